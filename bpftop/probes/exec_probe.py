"""Execs with argv and result, failed ones included (bpf/exec.c).

Successful execs cost nothing on other syscalls (sched:sched_process_exec). Failed
execs come from the cheapest hook the kernel loads: fexit or a kretprobe on the exec
syscall, else the sys_exit program the denials probe runs anyway (shared_sys_exit.py),
which puts every syscall of the box on the tracing slow path while it is attached.
`F` (setting `failures`) turns failure capture off and detaches what only it needed.
"""

from __future__ import annotations

import ctypes
from typing import Any

from bpftop.probes.base import PlanStep, Probe, c_string
from bpftop.probes.shared_sys_exit import EXEC_FAILURES
from bpftop.records import EXEC_FAILURES_OFF, ExecRecord

ARGV_MAX = 20
ARG_LEN = 128
ARGV_FLAGS = (f"-DARGV_MAX={ARGV_MAX}", f"-DARG_LEN={ARG_LEN}")
EXEC_TRACEPOINTS = ("sched:sched_process_exec", "sched:sched_process_fork")
FAILURE_FUNCTIONS = ("__x64_sys_execve", "__x64_sys_execveat")
SUCCESS_VIA = "tracepoint:sched:sched_process_exec"

FEXIT_STEP = PlanStep(
    via=f"{SUCCESS_VIA} + fexit:__x64_sys_execve{{,at}} for failures",
    tracepoints=EXEC_TRACEPOINTS,
    fexit=FAILURE_FUNCTIONS,
    cflags=(*ARGV_FLAGS, "-DFAIL_FEXIT"),
)
KRETPROBE_STEP = PlanStep(
    via=f"{SUCCESS_VIA} + kretprobe:__x64_sys_execve{{,at}} for failures",
    tracepoints=EXEC_TRACEPOINTS,
    kprobes=FAILURE_FUNCTIONS,
    cflags=(*ARGV_FLAGS, "-DFAIL_KRETPROBE"),
)
SHARED_STEP = PlanStep(
    via=f"{SUCCESS_VIA} + failures from the denials probe's sys_exit hook"
    " (every syscall pays; F: off)",
    tracepoints=(*EXEC_TRACEPOINTS, "raw_syscalls:sys_exit"),
    cflags=ARGV_FLAGS,
)
SYSCALL_STEP = PlanStep(
    via="tracepoint:syscalls:sys_{enter,exit}_execve{,at} (every syscall pays)",
    tracepoints=(
        "syscalls:sys_enter_execve",
        "syscalls:sys_exit_execve",
        "syscalls:sys_enter_execveat",
        "syscalls:sys_exit_execveat",
        "sched:sched_process_fork",
    ),
    cflags=(*ARGV_FLAGS, "-DSYSCALL_TRACEPOINTS"),
)


class ExecProbe(Probe):
    name = "exec"
    title = "Execs"
    source = "exec.c"
    # A step that fails to load (no BTF, no bpf_task_pt_regs before 5.15) falls back
    # to the next; the syscall tracepoints work everywhere.
    plan = (FEXIT_STEP, KRETPROBE_STEP, SHARED_STEP, SYSCALL_STEP)
    counter_names = ("ok", "failed", "lost", "unmatched")
    lost_counter = "lost"
    settings = ("failures",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.failures = True
        self._failures_attached = False
        # Failures counted by the shared program, carried over the times it was
        # released, and its total when this probe last joined it.
        self._shared_carried = {"failed": 0, "lost": 0}
        self._shared_base = {"failed": 0, "lost": 0}

    def configure(self, setting: str, value: float) -> None:
        if setting != "failures":
            super().configure(setting, value)
        self.failures = bool(value)
        if self.active:
            self._apply_failures()

    def on_started(self) -> None:
        self._failures_attached = self.step is not SHARED_STEP  # bcc attached them all
        self._apply_failures()

    def stop(self) -> None:
        self._release_shared()
        super().stop()

    def poll(self) -> None:
        super().poll()
        if self._shares_sys_exit():
            assert self.shared_sys_exit is not None
            self.shared_sys_exit.poll()

    def via(self) -> str | None:
        if self.step is None or not self.active:
            return None
        if self.step is SYSCALL_STEP:
            return self.step.via
        return self.step.via if self.failures else f"{SUCCESS_VIA} ({EXEC_FAILURES_OFF}: F)"

    def _apply_failures(self) -> None:
        """Attach or detach what only failure capture needs."""
        if self.step is SYSCALL_STEP:
            # The same tracepoints see every exec: failures cannot be left out here.
            self.notice = None if self.failures else "failed execs stay on with this step"
            return
        if self.failures == self._failures_attached:
            return
        if self.step is SHARED_STEP:
            self._join_shared() if self.failures else self._release_shared()
        else:
            for fn in FAILURE_FUNCTIONS:
                self._set_failure_hook(fn, self.failures)
        self._failures_attached = self.failures

    def _set_failure_hook(self, fn: str, on: bool) -> None:
        event = fn.encode()
        if self.step is FEXIT_STEP:
            (self._bpf.attach_kretfunc if on else self._bpf.detach_kretfunc)(fn_name=event)
        elif on:
            self._bpf.attach_kretprobe(event=event, fn_name=b"kretprobe__" + event)
        else:
            self._bpf.detach_kretprobe(event=event)

    def _shares_sys_exit(self) -> bool:
        shared = self.shared_sys_exit
        return shared is not None and EXEC_FAILURES in shared.users()

    def _join_shared(self) -> None:
        shared = self.shared_sys_exit
        assert shared is not None, "the engine gives every probe the shared sys_exit hook"
        shared.acquire(EXEC_FAILURES, self._on_failure)
        self._write_shared_filter()
        self._shared_base = self._shared_totals()

    def _release_shared(self) -> None:
        if not self._shares_sys_exit():
            return
        now = self._shared_totals()
        for key, value in now.items():
            self._shared_carried[key] += value - self._shared_base[key]
        assert self.shared_sys_exit is not None
        self.shared_sys_exit.release(EXEC_FAILURES)
        self._failures_attached = False

    def _shared_totals(self) -> dict[str, int]:
        assert self.shared_sys_exit is not None
        table = self.shared_sys_exit.bpf[b"exec_counters"]
        return {
            name: int(sum(table[ctypes.c_int(slot)])) for slot, name in enumerate(("failed", "lost"))
        }

    def _write_filter(self) -> None:
        super()._write_filter()
        if self._shares_sys_exit():
            self._write_shared_filter()

    def _write_shared_filter(self) -> None:
        assert self.shared_sys_exit is not None
        table = self.shared_sys_exit.bpf[b"filter"]
        leaf = table.Leaf()
        for name, value in self._filter.kernel_fields().items():
            setattr(leaf, name, value)
        table[ctypes.c_int(0)] = leaf

    def read_counts(self) -> dict[str, int]:
        counts = super().read_counts()
        if counts:
            shared = self._shared_totals() if self._shares_sys_exit() else self._shared_base
            for key in ("failed", "lost"):
                counts[key] += self._shared_carried[key] + shared[key] - self._shared_base[key]
        return counts

    def prog_fds(self) -> list[int]:
        shared = self.shared_sys_exit
        own = shared.part_fds(EXEC_FAILURES) if shared is not None else []
        return super().prog_fds() + own

    def _on_failure(self, event: Any, data: int) -> None:
        self._emit(self.decode(event, data))

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
