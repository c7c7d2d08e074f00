"""What rewind and recordings cost: the history ring's memory after 10 minutes of a
storm and per refresh, a recording's bytes and write cost per record, and how fast a
recording is read back and replayed. Models only, fed with synthetic records of
realistic size (the probes' costs are measured by the other benchmarks).

Standalone: `python bench/rewind.py`; also part of `make bench`.
"""

from __future__ import annotations

import gc
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import psutil
from paired import print_rows

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bpftop.catalog import new_dashboard  # noqa: E402
from bpftop.core.records import ConnectRecord, ExecRecord, ProbeCounts, Record  # noqa: E402
from bpftop.model.history import MAX_EVENTS, History  # noqa: E402
from bpftop.model.replay import Replay  # noqa: E402
from bpftop.outputs.recording import RecordingReader, RecordingWriter, make_header  # noqa: E402

MINUTES = 10


def second_of_storm(ts: float, execs: int, connects: int, seq: int) -> list[Record]:
    """One second of records: distinct execs and connections, and the counts."""
    out: list[Record] = []
    for i in range(execs):
        n = seq + i
        out.append(ExecRecord(ts, 10_000 + n % 30_000, 900, 1000, "curl",
                              ("/usr/bin/curl", "-sf", f"http://10.1.{n % 250}.7:8080/job/{n}"),
                              0, "/usr/bin/curl"))  # fmt: skip
    for i in range(connects):
        n = seq + i
        out.append(ConnectRecord(ts, 20_000 + n % 30_000, "api-server", 1000, "out", 4,
                                 "10.1.4.2", 30_000 + n % 30_000, f"10.1.{n % 250}.9", 5432,
                                 412.5 + n % 900, "established"))  # fmt: skip
    out.append(ProbeCounts(ts, "exec", 1.0, {"ok": execs, "failed": 0, "unmatched": 0}))
    out.append(ProbeCounts(ts, "connect", 1.0, {"out_established": connects}))
    return out


def rss_mb() -> float:
    gc.collect()
    return psutil.Process().memory_info().rss / 2**20


def ring_under(rows: list[tuple[str, str]], label: str, execs: int, connects: int) -> None:
    before = rss_mb()
    dashboard, history = new_dashboard(), History(MINUTES)
    frame_s = 0.0
    start = time.time()
    for second in range(MINUTES * 60):
        ts = start + second
        for record in second_of_storm(ts, execs, connects, second * (execs + connects)):
            dashboard.apply(record)
            history.add_record(record)
        t0 = time.perf_counter()
        history.add_frame(dashboard.snapshot(ts))
        frame_s += time.perf_counter() - t0
    grown = rss_mb() - before
    newest = history.newest.ts if history.newest else 0.0
    oldest = history.oldest.ts if history.oldest else 0.0
    since = history.events_since() or oldest
    rows.append((
        f"rewind ring, 10 min of {label}",
        f"{len(history)} frames, {history.kept_events:,} events kept (cap {MAX_EVENTS:,}, "
        f"covering the last {(newest - since) / 60:.1f} min); RSS +{grown:.0f} MiB; "
        f"{frame_s / len(history) * 1e3:.2f} ms per frame",
    ))  # fmt: skip
    del dashboard, history


def recordings(rows: list[tuple[str, str]], workdir: Path) -> None:
    records: list[Record] = []
    start = time.time()
    for second in range(60):
        records += second_of_storm(start + second, 500, 1500, second * 2000)
    path = workdir / "bench.jsonl.gz"
    header = make_header(host="bench", kernel="k", lockdown="none", interval_s=1.0, plans={})
    cpu0 = time.process_time()
    writer = RecordingWriter(path, header)
    writer.write_all(records)
    writer.close()
    write_cpu = time.process_time() - cpu0
    raw = sum(len(json.dumps(r.to_json(), separators=(",", ":"))) for r in records[:2000]) / 2000
    size = path.stat().st_size
    rows.append((
        f"recording {len(records):,} records (60 s of 2k events/s)",
        f"{size / len(records):.0f} B/record on disk ({raw:.0f} B as JSON, "
        f"~{raw * len(records) / size:.0f}x), "
        f"{write_cpu / len(records) * 1e6:.1f} us CPU/record to write = "
        f"{write_cpu / 60 * 100:.1f}% of a core at 2k events/s",
    ))  # fmt: skip
    t0 = time.perf_counter()
    back = list(RecordingReader(path))
    read_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    replay, dashboard = Replay(back), new_dashboard()
    _restart, due = replay.seek(replay.end)
    for record in due:
        dashboard.apply(record)
    seek_s = time.perf_counter() - t0
    rows.append((
        "replay of that recording",
        f"read and checked {len(back) / read_s:,.0f} records/s ({read_s:.2f} s); seek to the end "
        f"through the models {seek_s:.2f} s",
    ))  # fmt: skip


def history_and_recordings(rows: list[tuple[str, str]], workdir: Path) -> None:
    ring_under(rows, "a quiet box (10 execs/s, 20 connects/s)", 10, 20)
    ring_under(rows, "a storm (2k execs/s, 3k connects/s)", 2000, 3000)
    recordings(rows, workdir)


def main() -> int:
    rows: list[tuple[str, str]] = []
    with tempfile.TemporaryDirectory(prefix="bpftop-bench-") as workdir:
        history_and_recordings(rows, Path(workdir))
    print(f"bpftop history/recording benchmark, {time.strftime('%Y-%m-%d')}, "
          f"{os.uname().nodename}, {os.cpu_count()} CPUs")  # fmt: skip
    print_rows(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
