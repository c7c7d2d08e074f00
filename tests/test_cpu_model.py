"""The CPU pane's model and records, without a kernel: interval rows, JSON both ways,
and the filter's rule for rows of exited processes."""

from __future__ import annotations

import json

from bpftop.catalog import new_dashboard
from bpftop.core.filters import parse_filter
from bpftop.core.histogram import bucket_of, buckets_from_counts
from bpftop.core.record_decode import record_from_json
from bpftop.core.records import CpuRecord, RunqRecord
from bpftop.model.cpu import CpuModel, CpuSnapshot
from bpftop.outputs.recording import RecordingHeader


def row(ts: float, pid: int | None, comm: str, pct: float, procs: int = 1) -> CpuRecord:
    return CpuRecord(ts, 1.0, pid, comm, pct, None, None if pid is None else 1 << 20,
                     None if pid is None else "running", procs)  # fmt: skip


def test_the_latest_interval_replaces_the_rows_and_an_idle_one_clears_them() -> None:
    model = CpuModel()
    model.add_runq(RunqRecord(1.0, 1.0, (), None, None))
    model.add(row(1.0, 10, "a", 5.0))
    model.add(row(1.0, 11, "b", 50.0))
    assert [r.comm for r in model.snapshot().rows] == ["b", "a"]
    model.add_runq(RunqRecord(2.0, 1.0, (), None, None))
    model.add(row(2.0, 12, "c", 7.0))
    assert [r.comm for r in model.snapshot().rows] == ["c"]
    model.add_runq(RunqRecord(3.0, 1.0, (), None, None))  # nobody sampled in the interval
    snap = model.snapshot()
    assert snap.rows == () and snap.runq_p99_history == (None, None, None)


def test_records_survive_json_both_ways() -> None:
    hist = buckets_from_counts({bucket_of(30): 5, bucket_of(2000): 1})
    for record in (
        RunqRecord(5.0, 1.0, hist, 31.0, 1990.0),
        row(5.0, None, "cat", 61.2, procs=214),
        CpuRecord(5.0, 1.0, 42, "postgres", 187.5, 2400.0, 812 << 20, "running"),
    ):
        text = json.dumps(record.to_json())
        assert record_from_json(json.loads(text)) == record
    assert json.loads(json.dumps(row(5.0, None, "cat", 1.0).to_json()))["pid"] is None


def test_a_comm_filter_keeps_the_exited_processes_of_that_comm() -> None:
    comm = parse_filter("comm=cat")
    assert comm.keeps(row(1.0, None, "cat", 3.0, procs=9))
    assert not comm.keeps(row(1.0, None, "dd", 3.0, procs=9))
    pid = parse_filter("pid=1")
    assert pid.keeps(row(1.0, 1, "init", 3.0))
    assert not pid.keeps(row(1.0, None, "init", 3.0))  # not that pid: other processes


def test_the_bundle_report_names_the_cpu_burners_and_the_worst_run_queue() -> None:
    from bpftop.outputs.report import build_report
    from tests.helpers.recorded import T0, recorded_cpu

    report = build_report(RecordingHeader(), recorded_cpu(), written=T0 + 10)
    section = report.split("top offenders: CPU\n", 1)[1].split("\n\n", 1)[0].splitlines()
    assert section[:3] == ["     18.8s  postgres", "      6.1s  cat", "      2.2s  rsync"]
    assert section[-1].startswith("  run queue: worst p99 3.8ms at ")


def test_the_header_and_the_cpu_pane_show_one_figure_from_the_same_samples() -> None:
    """The first frame said `cpu 100%` in the header (psutil, over bpftop's own start-up)
    beside `busy 0%` in the pane. Both now come from the probe's samples of one interval;
    before its first interval both say "-"."""
    from bpftop.core.records import ProbeCounts, ProbeStatus, SystemSample
    from bpftop.panes.header import box_cpu

    board = new_dashboard(("cpu",))
    board.apply(ProbeStatus(1.0, "cpu", "attached", via="perf_event"))
    board.apply(SystemSample(1.0, "box", "6.18", 100.0, (0.0, 0.0, 0.0), 100.0, 10.0, 5.0, 60.0))
    assert box_cpu(board.snapshot(1.0)) == "-"  # not psutil's start-up 100%
    assert board.snapshot(1.0).view("cpu", CpuSnapshot).box_busy_pct is None
    # 198 samples over two CPUs in a second, 150 of them on an idle CPU: 24% busy.
    board.apply(ProbeCounts(2.0, "cpu", 1.0, {"samples": 198, "idle": 150}))
    snapshot = board.snapshot(2.0)
    assert snapshot.view("cpu", CpuSnapshot).box_busy_pct == round(100 * 48 / 198, 1)
    assert box_cpu(snapshot) == "24%"
    board.apply(ProbeStatus(3.0, "cpu", "detached"))  # the probe off: psutil's figure
    assert box_cpu(board.snapshot(3.0)) == "100%"
