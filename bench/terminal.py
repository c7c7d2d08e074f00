"""Bytes over the link: what bpftop's TUI writes to a 120x40 terminal per second, next
to htop in the same run (`make bench-terminal`; part of `make bench`).

Both run at once, each in its own pty, so they see the same box: first idle, then
under the soak storm (200 execs/s, 100 TCP connections/s, 1,000 denied opens/s).
Then each alone on the idle box, one after the other (together, each sees the other's
activity). The first WARMUP seconds are not counted: both paint their whole screen at start.
Goals: idle, bpftop at most htop, side by side (issue 15) and alone (issue 29); under
the storm at most 8 KB/s.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from peers import CountingTerminal  # noqa: E402
from storm import soak_storm, storm_rates  # noqa: E402

WARMUP = 10.0
SECONDS = float(os.environ.get("TERMINAL_SECONDS", "60"))
BPFTOP = [sys.executable, "-m", "bpftop"]


def side_by_side(label: str) -> tuple[float, float | None]:
    """bytes/s of bpftop and htop over SECONDS after WARMUP, both running meanwhile."""
    htop = shutil.which("htop")
    ours = CountingTerminal(BPFTOP, ROOT)
    theirs = CountingTerminal([htop], ROOT) if htop else None
    time.sleep(WARMUP)
    start = (ours.bytes, theirs.bytes if theirs else 0, time.monotonic())
    time.sleep(SECONDS)
    took = time.monotonic() - start[2]
    ours_rate = (ours.bytes - start[0]) / took
    theirs_rate = (theirs.bytes - start[1]) / took if theirs else None
    ours.stop()
    if theirs:
        theirs.stop()
    versus = f"htop {theirs_rate:,.0f} B/s" if theirs_rate is not None else "htop not installed"
    print(f"  {label:<44} bpftop {ours_rate:,.0f} B/s · {versus}", flush=True)
    return ours_rate, theirs_rate


def alone(label: str, argv: list[str]) -> float:
    """bytes/s of one program alone over SECONDS after WARMUP."""
    term = CountingTerminal(argv, ROOT)
    time.sleep(WARMUP)
    start, at = term.bytes, time.monotonic()
    time.sleep(SECONDS)
    rate = (term.bytes - start) / (time.monotonic() - at)
    term.stop()
    print(f"  {label:<44} {rate:,.0f} B/s", flush=True)
    return rate


def main() -> int:
    print(f"bpftop terminal output, {time.strftime('%Y-%m-%d')}, {os.uname().nodename}, "
          f"120x40, TERM=xterm-256color, {SECONDS:.0f} s each after {WARMUP:.0f} s")  # fmt: skip
    side_by_side("idle box")
    alone("idle box, bpftop alone", BPFTOP)
    if htop := shutil.which("htop"):
        alone("idle box, htop alone", [htop])
    with soak_storm() as counts:
        start = time.monotonic()
        side_by_side("soak storm")
        rates = storm_rates(counts, time.monotonic() - start)
    print(f"  storm: {rates}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
