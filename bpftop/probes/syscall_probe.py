"""One process's syscalls, counted in the kernel (bpf/syscalls.c): the drilldown's
`strace -c`, without ptrace stopping the process at every call.

The target pid is compiled into the program, so the probe is recompiled for each
target (~0.3 s) and every other task on the box pays one compare per syscall
entry and exit (plus the cost of entering any BPF program at all, see
docs/benchmarks.md).
"""

from __future__ import annotations

import time
from typing import Any

from bpftop.core.records import Record, SyscallRow, SyscallsRecord, errno_name
from bpftop.host.syscall_table import syscall_name
from bpftop.probes.base import PidProbe, PlanStep
from bpftop.probes.deltas import RunningTotals


class SyscallProbe(PidProbe):
    name = "syscalls"
    title = "Syscalls"
    source = "syscalls.c"
    plan = (
        PlanStep(
            via="raw_tracepoint:sys_enter + sys_exit, pid compiled in",
            tracepoints=("raw_syscalls:sys_enter", "raw_syscalls:sys_exit"),
            prog_type="raw_tracepoint",
            needs_ringbuf=False,
            helpers=("task_storage_get", "get_current_task_btf"),
        ),
        # Before task storage: the call in flight per thread in a hash.
        PlanStep(
            via="raw_tracepoint:sys_enter + sys_exit, pid compiled in (calls in a hash)",
            tracepoints=("raw_syscalls:sys_enter", "raw_syscalls:sys_exit"),
            prog_type="raw_tracepoint",
            needs_ringbuf=False,
            cflags=("-DINFLIGHT_HASH",),
        ),
    )
    counter_names = ("unmatched", "table_full", "lost")
    lost_counter = "lost"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._totals: RunningTotals[int, tuple[int, ...]] = RunningTotals()  # calls, errors, ns
        self._errors: RunningTotals[tuple[int, int], int] = RunningTotals()

    def on_started(self) -> None:
        self._totals.clear()
        self._errors.clear()

    def interval_records(self, interval_s: float) -> list[Record]:
        assert self.pid is not None
        exited = self.target_exited()  # its last calls are in this read
        errors = self._error_deltas()
        rows = []
        for nr, (calls, _errs, total_ns) in self._total_deltas().items():
            by_errno = {
                errno_name(-err) or str(err): n for (enr, err), n in errors.items() if enr == nr
            }
            rows.append(SyscallRow(syscall_name(nr), calls, by_errno, round(total_ns / 1000, 3)))
        rows.sort(key=lambda row: (-row.total_us, -row.calls, row.syscall))
        return [SyscallsRecord(time.time(), self.pid, interval_s, tuple(rows), exited)]

    def _total_deltas(self) -> dict[int, tuple[int, ...]]:
        """Per syscall number, (calls, errors, ns) since the last interval. The
        kernel's totals only grow: nothing is reset, so nothing is lost to a race."""
        now = {
            key.value: (
                sum(v.calls for v in per_cpu),
                sum(v.errors for v in per_cpu),
                sum(v.total_ns for v in per_cpu),
            )
            for key, per_cpu in self._bpf[b"totals"].items()
        }
        return {nr: d for nr, d in self._totals.growth(now).items() if d[0]}  # had calls

    def _error_deltas(self) -> dict[tuple[int, int], int]:
        now = {(int(k.nr), int(k.err)): int(v.value) for k, v in self._bpf[b"errors"].items()}
        return self._errors.growth(now)
