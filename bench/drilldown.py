"""What the drilldown's per-pid probes cost: the syscall summary on the rest of the
box and on its target, and a uprobe per call of the target's function."""

from __future__ import annotations

import time
from pathlib import Path

from denials import SYSCALLS_C, _getppid_rate
from paired import ratio_row
from peers import Headless

from tests.helpers.c_helpers import compile_c
from tests.helpers.callee import callee_binary, callees

ROUNDS = 5
CALLS = 300_000


def pid_probes(bpftop: list[str], cwd: Path, pid: int, *extra: str) -> Headless:
    """`bpftop --json --pid PID --probes syscalls [--uprobe ...]`, once attached."""
    args = ("--pid", str(pid), "--probes", "syscalls", *extra)
    return Headless(bpftop, cwd, *args, want=2 if extra else 1)


def drilldown_overhead(
    rows: list[tuple[str, str]], workdir: Path, bpftop: list[str], cwd: Path
) -> None:
    tool = compile_c(workdir, "syscalls", SYSCALLS_C)
    with callee_binary(workdir) as binary, callees(binary) as (target,):
        # The rest of the box: a getppid loop in another process.
        without, with_probe = [], []
        for _ in range(ROUNDS):
            without.append(_getppid_rate(tool))
            run = pid_probes(bpftop, cwd, target.pid)
            with_probe.append(_getppid_rate(tool))
            run.stop(last_counts=False)
        rows.append(ratio_row(f"getppid() loop of another process, {ROUNDS} rounds", without,
                              with_probe, "syscalls probe"))  # fmt: skip

        # The target itself: CALLS x (bpftop_work() + getppid) per round.
        def calls_per_second() -> float:
            start = time.monotonic()
            target.call(CALLS)
            return CALLS / (time.monotonic() - start)

        for label, extra in (
            ("syscalls", ()),
            ("syscalls+uprobe", ("--uprobe", "bpftop_callee:bpftop_work")),
        ):
            without, with_probe = [], []
            for _ in range(ROUNDS):
                without.append(calls_per_second())
                run = pid_probes(bpftop, cwd, target.pid, *extra)
                with_probe.append(calls_per_second())
                run.stop(last_counts=False)
            rows.append(ratio_row(f"drilldown target: function + getppid per call ({label})",
                                  without, with_probe, f"{label} probes"))  # fmt: skip
