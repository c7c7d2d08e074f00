"""What a uprobe costs the process it is on, per call, measured on this box.

A uprobe is a breakpoint: every call of the function traps into the kernel, runs the
BPF program and returns, and a uretprobe does it again on the way out. That is ~1-3 us
per call on common hardware and much more in a VM: a function called 50k times a
second then costs its process a whole CPU. The drilldown shows each probe's cost and
detaches the ones over budget, so the per-call price must be known: bpftop measures
it once, the first time it attaches a uprobe, on a throwaway child (a Python loop
calling libc's getppid) timed with and without a probe pair on that function.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
from collections.abc import Callable

CALLS = 20_000  # per timed round: ~40 ms with the probes on a typical box
ROUNDS = 3  # timed rounds each way, alternated; the medians are compared
FALLBACK_S = 2e-6  # used (and said) when the measurement cannot run
CALIBRATION = (
    "import os, sys, time\n"
    "print('ready', flush=True)\n"
    "for _ in sys.stdin:\n"
    "    t = time.perf_counter()\n"
    f"    for _ in range({CALLS}): os.getppid()\n"
    "    print(time.perf_counter() - t, flush=True)\n"
)


def measure(attach: Callable[[int], None], detach: Callable[[int], None]) -> float:
    """Seconds a uprobe + uretprobe pair adds to one call. `attach(pid)` puts a pair
    on libc's getppid in that process, `detach(pid)` takes it off; both may raise
    (OSError, ValueError), and then the measurement fails with ValueError."""
    child = subprocess.Popen(
        [sys.executable, "-c", CALIBRATION],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert child.stdin is not None and child.stdout is not None
    try:
        if child.stdout.readline().strip() != "ready":
            raise ValueError("the calibration child did not start")

        def timed() -> float:
            assert child.stdin is not None and child.stdout is not None
            child.stdin.write("go\n")
            child.stdin.flush()
            return float(child.stdout.readline())

        bare, probed = [], []
        for _ in range(ROUNDS):
            bare.append(timed())
            attach(child.pid)
            try:
                probed.append(timed())
            finally:
                detach(child.pid)
        return max(0.0, (statistics.median(probed) - statistics.median(bare)) / CALLS)
    except (OSError, ValueError) as exc:
        raise ValueError(f"cannot measure the uprobe cost: {exc}") from None
    finally:
        child.kill()
        child.wait()
