"""Soak: bpftop's TUI (120x40, every probe) under a steady storm of execs, TCP
connections and denied opens for a long time (`make soak`, 60 minutes by default;
SOAK_MINUTES=N to change). Its RSS is sampled every 30 s: bounded means flat after
warm-up. Not part of the tests or of `make bench`: it takes an hour.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from peers import CountingTerminal  # noqa: E402
from storm import soak_storm, storm_rates  # noqa: E402

SAMPLE_SECONDS = 30


def main() -> int:
    minutes = float(os.environ.get("SOAK_MINUTES", "60"))
    tui = CountingTerminal([sys.executable, "-m", "bpftop"], ROOT)
    time.sleep(5)  # attached
    proc = psutil.Process(tui.pid)
    samples: list[tuple[float, float, float]] = []  # (minutes, rss MiB, cpu s)
    with soak_storm() as counts:
        start = time.monotonic()
        while time.monotonic() - start < minutes * 60:
            time.sleep(SAMPLE_SECONDS)
            cpu = sum(proc.cpu_times()[:2])
            samples.append(((time.monotonic() - start) / 60, proc.memory_info().rss / 2**20, cpu))
            print(f"soak {samples[-1][0]:5.1f} min  rss {samples[-1][1]:6.1f} MiB", flush=True)
        took = time.monotonic() - start
    term_bytes = tui.bytes
    tui.stop()

    warm = [s for s in samples if s[0] >= min(5.0, minutes / 2)]
    half = [s for s in samples if s[0] >= minutes / 2]
    cpu = 100 * (samples[-1][2] - samples[0][2]) / ((samples[-1][0] - samples[0][0]) * 60 or 1)
    print(f"bpftop soak, {time.strftime('%Y-%m-%d')}, {os.uname().nodename}, {minutes:.0f} min")
    print(f"  storm: {storm_rates(counts, took)}")
    print(f"  RSS after warm-up {warm[0][1]:.1f} MiB, max {max(s[1] for s in samples):.1f} MiB,"
          f" end {samples[-1][1]:.1f} MiB; second half {min(s[1] for s in half):.1f}-"
          f"{max(s[1] for s in half):.1f} MiB")  # fmt: skip
    print(f"  bpftop CPU {cpu:.1f}% of one core; terminal output {term_bytes / took:,.0f} B/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
