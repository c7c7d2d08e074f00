"""A bundle tells the truth about what it covers: after a disk burst, a storm of execs
fills the event budget, and the bundle still has the burst (its disk records are
aggregates, kept for the whole window) and says exactly from when the events run.
Real probes, the TUI's own History and the bundle's own writer."""

from __future__ import annotations

import os
import re
import subprocess
import time
from pathlib import Path

import pytest

from bpftop.catalog import new_dashboard
from bpftop.core.records import DiskRecord, ExecRecord, ProbeCounts, is_event
from bpftop.model.history import History
from bpftop.outputs.bundle import BundleRecords, write_bundle
from bpftop.outputs.recording import make_header, read_all
from tests.helpers.loopdev import direct_io, loop_device

pytestmark = pytest.mark.bpf

BUDGET = 300  # events; the storm below makes ~4x as many
WRITES = 40


def test_a_bundle_after_a_storm_keeps_the_disk_burst_and_states_both_spans(
    engine_for, tmp_path: Path
) -> None:
    with loop_device(tmp_path) as dev:
        name = os.path.basename(dev)
        fd = os.open(dev, os.O_RDWR | os.O_DIRECT)
        try:
            engine, sink = engine_for("disk", "exec", interval=0.3)
            burst_at = time.time()
            direct_io(fd, WRITES, 0)
            assert sink.wait_for(lambda: sum(r.writes for r in sink.of_type(DiskRecord)
                                             if r.dev == name) >= WRITES)  # fmt: skip
            storm_from = time.time()
            for _ in range(4 * BUDGET):
                subprocess.run(["/bin/true"], check=True)
            time.sleep(0.7)  # two more intervals: every count is in
            engine.stop()
        finally:
            os.close(fd)

    # The TUI's path: records into the history, a frame at each interval's counts.
    history, board = History(minutes=10.0, max_events=BUDGET), new_dashboard()
    for record in list(sink.records):
        board.apply(record)
        history.add_record(record)
        if isinstance(record, ProbeCounts) and record.probe == "exec":
            history.add_frame(board.snapshot(record.ts))
    records = list(history.records())
    since = history.events_since()
    assert since is not None and since > storm_from  # the budget dropped the first events
    assert sum(1 for r in records if is_event(r)) <= BUDGET
    # The bundle's claim: no event from `since` on was given up. (A kept event may be a
    # little older: one that happened as the dropped frame closed is read in the next.)
    kept = {id(r) for r in records}
    assert all(id(r) in kept for r in sink.of_type(ExecRecord) if r.ts >= since)

    about = make_header(host="test", kernel=os.uname().release, lockdown="none",
                        interval_s=0.3, plans={})  # fmt: skip
    bundle = write_bundle(tmp_path / "bundle", svg="<svg/>", about=about, records=records,
                          events_since=since, lost={"exec": 0, "disk": 0})  # fmt: skip
    report = (bundle / "report.txt").read_text()
    assert report.endswith("\n")
    # The burst is in it, although it came before every event that was kept.
    burst = re.search(rf"  {name} +worst p99 (\S+), max \S+, ([\d,]+) I/Os", report)
    assert burst and burst.group(1) != "-" and int(burst.group(2).replace(",", "")) >= WRITES
    covers = re.search(r"covers +\S+ (\S+) \S+ to", report)
    events = re.search(r"events +\S+ (\S+) \S+ to .*over the event budget", report)
    assert covers and events, report
    assert covers.group(1) <= time.strftime("%H:%M:%S", time.localtime(burst_at))
    assert events.group(1) == time.strftime("%H:%M:%S", time.localtime(since))
    assert "exec      0 since bpftop started (as in its pane), 0 in the span above" in report
    # The totals come from the kernel's counts: the whole storm, not the events kept.
    # (Failures of other processes on the box may be in the count: any number of them.)
    counted = re.search(r"; ([\d,]+) execs, [\d,]+ failed counted over the whole span", report)
    assert counted and int(counted.group(1).replace(",", "")) >= 4 * BUDGET
    _header, replayed, damage = read_all(bundle / "recording.jsonl.gz")
    assert damage is None and len(replayed) == len(records)


def test_the_headless_bundles_budget_keeps_every_aggregate_in_order() -> None:
    kept = BundleRecords(max_events=3)
    counts = [ProbeCounts(float(t), "exec", 1.0, {"ok": 1}) for t in range(5)]
    execs = [ExecRecord(t + 0.5, t, 1, 0, "true", ("true",), 0, "/bin/true") for t in range(5)]
    for count, exec_record in zip(counts, execs, strict=True):
        kept.add(count)
        kept.add(exec_record)
    assert list(kept.records()) == [counts[0], counts[1], counts[2], execs[2], counts[3],
                                    execs[3], counts[4], execs[4]]  # fmt: skip
    assert kept.events_since == 1.5  # every event after the newest one dropped is kept


def test_the_reports_events_and_kernel_counts_cover_the_same_intervals(
    engine_for, tmp_path: Path
) -> None:
    """A bundle made mid-interval (as `B` does, with events that no count has covered
    yet) says as many execs in the events as the kernel counted over the same span."""
    engine, sink = engine_for("exec", interval=0.3)
    history, board = History(minutes=10.0), new_dashboard()
    fed = 0

    def feed() -> None:  # the TUI's path: a frame each refresh, whatever the probe's phase
        nonlocal fed
        records = list(sink.records)
        for record in records[fed:]:
            board.apply(record)
            history.add_record(record)
        fed = len(records)
        history.add_frame(board.snapshot(time.time()))

    start = time.monotonic()
    while time.monotonic() - start < 2.5:
        for _ in range(10):
            subprocess.run(["/bin/true"], check=True)
        feed()
    feed()  # the newest events: read after the last count, not yet covered by one
    engine.stop()
    records = list(history.records())
    assert sum(1 for r in records if isinstance(r, ExecRecord)) > 0
    about = make_header(host="test", kernel=os.uname().release, lockdown="none",
                        interval_s=0.3, plans={})  # fmt: skip
    bundle = write_bundle(tmp_path / "bundle", svg="<svg/>", about=about, records=records)
    report = (bundle / "report.txt").read_text()
    line = re.search(r"([\d,]+) execs, ([\d,]+) failed in the events; ([\d,]+) execs, "
                     r"([\d,]+) failed counted over the whole span", report)  # fmt: skip
    assert line, report
    events, events_failed, counted, counted_failed = (int(g.replace(",", ""))
                                                       for g in line.groups())  # fmt: skip
    assert events >= 50 and (events, events_failed) == (counted, counted_failed), report
