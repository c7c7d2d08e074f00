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

from bpftop.probes.base import PidProbe, PlanStep
from bpftop.probes.syscall_table import syscall_name
from bpftop.records import Record, SyscallRow, SyscallsRecord, errno_name


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
        ),
    )
    counter_names = ("unmatched", "table_full", "lost")
    lost_counter = "lost"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._last_totals: dict[int, tuple[int, int, int]] = {}
        self._last_errors: dict[tuple[int, int], int] = {}

    def on_started(self) -> None:
        self._last_totals = {}
        self._last_errors = {}

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

    def _total_deltas(self) -> dict[int, tuple[int, int, int]]:
        """Per syscall number, (calls, errors, ns) since the last interval. The
        kernel's totals only grow: nothing is reset, so nothing is lost to a race."""
        deltas = {}
        table = self._bpf[b"totals"]
        for key, per_cpu in table.items():
            nr = key.value
            now = (
                sum(v.calls for v in per_cpu),
                sum(v.errors for v in per_cpu),
                sum(v.total_ns for v in per_cpu),
            )
            before = self._last_totals.get(nr, (0, 0, 0))
            if now[0] != before[0]:
                deltas[nr] = (now[0] - before[0], now[1] - before[1], now[2] - before[2])
                self._last_totals[nr] = now
        return deltas

    def _error_deltas(self) -> dict[tuple[int, int], int]:
        deltas = {}
        for key, value in self._bpf[b"errors"].items():
            ident = (int(key.nr), int(key.err))
            count = int(value.value)
            if count != self._last_errors.get(ident, 0):
                deltas[ident] = count - self._last_errors.get(ident, 0)
                self._last_errors[ident] = count
        return deltas
