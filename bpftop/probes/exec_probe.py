"""Execs with argv and result, failed ones included (bpf/exec.c)."""

from __future__ import annotations

import ctypes
from typing import Any

from bpftop.probes.base import PlanStep, Probe, c_string
from bpftop.records import ExecRecord

ARGV_MAX = 20
ARG_LEN = 128


class ExecProbe(Probe):
    name = "exec"
    title = "Execs"
    source = "exec.c"
    plan = (
        PlanStep(
            via="tracepoint:syscalls:sys_enter_execve",
            tracepoints=(
                "syscalls:sys_enter_execve",
                "syscalls:sys_exit_execve",
                "syscalls:sys_enter_execveat",
                "syscalls:sys_exit_execveat",
                "sched:sched_process_fork",
            ),
            cflags=(f"-DARGV_MAX={ARGV_MAX}", f"-DARG_LEN={ARG_LEN}"),
        ),
    )
    counter_names = ("ok", "failed", "lost", "unmatched")
    lost_counter = "lost"

    def decode(self, event: Any, data: int) -> ExecRecord:
        # argv is ARGV_MAX NUL-terminated slots; a ctypes char[] stops at the first
        # NUL, so copy the raw bytes.
        argc = min(int(event.argc), ARGV_MAX)
        raw = ctypes.string_at(data + type(event).argv.offset, argc * ARG_LEN)
        argv = tuple(c_string(raw[i * ARG_LEN : (i + 1) * ARG_LEN]) for i in range(argc))
        return ExecRecord(
            ts=self._clock.wall(event.ts_ns),
            pid=int(event.pid),
            ppid=int(event.ppid) or None,
            uid=int(event.uid),
            comm=c_string(bytes(event.comm)),
            argv=argv,
            ret=int(event.ret),
            filename=c_string(bytes(event.filename)),
            argv_truncated=bool(event.truncated),
        )
