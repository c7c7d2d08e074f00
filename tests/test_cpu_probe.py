"""Real kernel: the CPU probe's shares and run-queue latency against workloads whose
CPU time the kernel itself reports (rusage), not against guesses."""

from __future__ import annotations

import contextlib
import os
import statistics
import subprocess
import sys
import textwrap
import time

import pytest

from bpftop.core.records import CpuRecord, ProbeStatus, RunqRecord
from tests.helpers.timing import SLOWDOWN

pytestmark = pytest.mark.bpf
INTERVAL = 0.5


def spinner(seconds: float, cpu: int | None = None) -> subprocess.Popen[str]:
    """A process that spins on one CPU (pinned to `cpu` if given) for `seconds`, then
    prints the share of a CPU the kernel gave it meanwhile (100: all of one; less
    where others compete for the CPU, as in an emulated VM)."""
    pin = f"os.sched_setaffinity(0, {{{cpu}}})" if cpu is not None else ""
    code = f"""
import os, time
{pin}
start, cpu = time.monotonic(), time.process_time()
end = start + {seconds}
while time.monotonic() < end:
    pass
print(100 * (time.process_time() - cpu) / (time.monotonic() - start))
"""
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)


# Named `cpustorm` before it forks, so the storm's every CPU second is under that comm;
# it prints those seconds as the kernel accounted them (its own since the rename and its
# children's), the truth the probe's samples are held to.
STORM = textwrap.dedent("""
    import ctypes, os, resource, sys, time
    ctypes.CDLL(None).prctl(15, b"cpustorm", 0, 0, 0)  # PR_SET_NAME
    before = resource.getrusage(resource.RUSAGE_SELF)
    n, spin = int(sys.argv[1]), float(sys.argv[2])
    for _ in range(n):
        pid = os.fork()
        if pid == 0:
            start = time.process_time()
            while time.process_time() - start < spin:
                pass
            os._exit(0)
        os.waitpid(pid, 0)
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    print(me.ru_utime - before.ru_utime + me.ru_stime - before.ru_stime
          + kids.ru_utime + kids.ru_stime)
""")


def attached(sink) -> bool:
    return any(s.state == "attached" for s in sink.of_type(ProbeStatus) if s.probe == "cpu")


def test_a_spinner_is_reported_at_one_full_cpu(engine_for) -> None:
    _engine, sink = engine_for("cpu", interval=INTERVAL)
    assert attached(sink)
    proc = spinner(5.0)
    try:
        time.sleep(4.0)
        start = len(sink.records)
        sink.wait_for(
            lambda: len([r for r in sink.records[start:] if isinstance(r, RunqRecord)]) >= 3
        )
    finally:
        share = float(proc.communicate()[0])
    # Intervals wholly inside the spin: after the first second, before the end.
    rows = [r for r in sink.records[start:] if isinstance(r, CpuRecord) and r.pid == proc.pid]
    assert len(rows) >= 2, sink.records[start:]
    assert share >= 50.0  # the kernel gave it at least half a CPU, or nothing is shown
    for row in rows[:3]:
        # What the kernel gave it (on a quiet box ~100), to a few samples an interval.
        assert share - 10.0 <= row.cpu_pct <= 100.0, (row, share)
        assert row.comm.startswith("python")
        assert row.procs == 1


def test_a_storm_of_short_lived_processes_is_one_comm_with_its_whole_cpu(engine_for) -> None:
    _engine, sink = engine_for("cpu", interval=INTERVAL)
    assert attached(sink)
    storm = subprocess.run([sys.executable, "-c", STORM, "200", "0.02"], check=True,
                           capture_output=True, text=True)  # fmt: skip
    truth_s = float(storm.stdout)
    done = len(sink.records)
    sink.wait_for(lambda: sum(isinstance(r, RunqRecord) for r in sink.records[done:]) >= 2)
    storm_rows = [r for r in sink.of_type(CpuRecord) if r.comm == "cpustorm"]
    seen_s = sum(r.cpu_pct / 100 * r.interval_s for r in storm_rows)
    assert truth_s >= 200 * 0.02  # its children spun 20 ms each, forks and exits besides
    assert abs(seen_s - truth_s) <= 0.15 * truth_s, (seen_s, truth_s, storm_rows[-3:])
    exited = [r for r in storm_rows if r.pid is None]
    assert exited and max(r.procs for r in exited) > 1  # folded into one row per interval
    assert all(r.rss_bytes is None for r in exited)


def runq_p99_of(sink, pids: set[int], start: int) -> list[float]:
    """Each interval's run-queue p99 of those processes; 0 for an interval in which they
    never waited (a spinner alone on its CPU may never be preempted)."""
    return [
        r.runq_p99_us or 0.0
        for r in sink.records[start:]
        if isinstance(r, CpuRecord) and r.pid in pids
    ]


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="needs a CPU to pin spinners to")
def test_two_spinners_on_one_cpu_wait_for_it_and_one_alone_does_not(engine_for) -> None:
    allowed = os.sched_getaffinity(0)
    cpu = max(allowed)
    _engine, sink = engine_for("cpu", interval=1.0)
    assert attached(sink)
    # This process (the engine's thread reads the maps) keeps off the spinners' CPU.
    tasks = [int(tid) for tid in os.listdir("/proc/self/task")]
    for tid in tasks:
        os.sched_setaffinity(tid, allowed - {cpu})
    try:
        alone_p99, pair_p99 = spin_alone_then_in_pair(sink, cpu)
    finally:
        for tid in tasks:
            with contextlib.suppress(OSError):
                os.sched_setaffinity(tid, allowed)

    assert pair_p99 and min(pair_p99) > 1000.0, pair_p99
    # Alone, it waits only when something else wakes on its CPU: rare, but not never.
    assert alone_p99 and statistics.median(alone_p99) < 1000.0, alone_p99
    runq = [r for r in sink.of_type(RunqRecord) if r.p99_us is not None]
    assert runq and max(r.p99_us for r in runq) > 1000.0


def spin_alone_then_in_pair(sink, cpu: int) -> tuple[list[float], list[float]]:

    alone = spinner(3.0 * SLOWDOWN, cpu)
    time.sleep(1.0)
    start = len(sink.records)
    alone.wait()
    alone_p99 = runq_p99_of(sink, {alone.pid}, start)

    pair = [spinner(3.0 * SLOWDOWN, cpu) for _ in range(2)]
    time.sleep(1.0)
    start = len(sink.records)
    for proc in pair:
        proc.wait()
    pair_p99 = runq_p99_of(sink, {p.pid for p in pair}, start)
    return alone_p99, pair_p99
