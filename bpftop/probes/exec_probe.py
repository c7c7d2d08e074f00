"""Execs with argv and result, failed ones included (bpf/exec.c).

Successful execs cost nothing on other syscalls (sched:sched_process_exec). Failed
execs come from the cheapest hook the kernel loads: fexit or a kretprobe on the exec
syscall; else the syscalls:sys_exit_execve{,at} tracepoints, which put every syscall of
the box on the tracing slow path, and which give way to the sys_exit program while the
denials probe runs it anyway (shared_sys_exit.py): one every-syscall hook at most.
`F` (setting `failures`) turns failure capture off and detaches what only it needed.
"""

from __future__ import annotations

import ctypes
import time
from typing import Any, ClassVar

from bpftop.core.records import EXEC_FAILURES_COSTLY, EXEC_FAILURES_OFF, ExecRecord, Record
from bpftop.host.kernel import KernelFeatures
from bpftop.loader.libbpf import tracing_programs_reattach
from bpftop.probes.base import PlanStep, Probe, c_string, tracepoint_function, write_filter
from bpftop.probes.path_lookups import PathLookups
from bpftop.probes.shared_sys_exit import DENIALS, EXEC_FAILURES

ARGV_MAX = 20
ARG_LEN = 128
# Slot order of the shared sys_exit program's `exec_counters` (bpf/denials.c, EXF_*).
SHARED_COUNTER_NAMES = ("failed", "lost")
ARGV_FLAGS = (f"-DARGV_MAX={ARGV_MAX}", f"-DARG_LEN={ARG_LEN}")
EXEC_TRACEPOINTS = ("sched:sched_process_exec", "sched:sched_process_fork")
FAILURE_FUNCTIONS = ("__x64_sys_execve", "__x64_sys_execveat")
FAILURE_TRACEPOINTS = ("syscalls:sys_exit_execve", "syscalls:sys_exit_execveat")
SUCCESS_VIA = "tracepoint:sched:sched_process_exec"
OWN, SHARED = "own", "shared"  # where failed execs come from: exec.c's hooks, or denials.c

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
SYS_EXIT_STEP = PlanStep(
    via=f"{SUCCESS_VIA} + tracepoint:syscalls:sys_exit_execve{{,at}} for failures"
    " (every syscall pays)",
    tracepoints=(*EXEC_TRACEPOINTS, *FAILURE_TRACEPOINTS),
    cflags=(*ARGV_FLAGS, "-DFAIL_SYSCALL_TP"),
)
# SYS_EXIT_STEP while the denials probe runs: its sys_exit program reports failures too.
SHARED_VIA = f"{SUCCESS_VIA} + the denials probe's sys_exit for failures (shared)"
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
    plan: ClassVar[tuple[PlanStep, ...]] = (FEXIT_STEP, KRETPROBE_STEP, SYS_EXIT_STEP, SYSCALL_STEP)
    counter_names = ("ok", "failed", "lost", "unmatched")
    lost_counter = "lost"
    settings = ("failures",)

    @classmethod
    def joins_shared_sys_exit(cls, kernel: KernelFeatures) -> bool:
        """Failures from the denials probe's program where the plan takes the syscall
        exit tracepoints (a step that fails at load falls back to its own hooks)."""
        return cls.plan_for(kernel)[0] is SYS_EXIT_STEP

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.failures = True
        self._source: str | None = None  # where failures come from: OWN, SHARED or None
        # Failures counted by the shared program, carried over the times it was
        # released, and its total when this probe last joined it.
        self._shared_carried = {"failed": 0, "lost": 0}
        self._shared_base = {"failed": 0, "lost": 0}
        self._lookups = PathLookups(self._emit)
        self._failed_shown = 0

    def configure(self, setting: str, value: float) -> None:
        if setting != "failures":
            super().configure(setting, value)
        self.failures = bool(value)
        if self.active:
            self._move_failures()

    def on_started(self) -> None:
        self._lookups = PathLookups(self._emit)
        self._failed_shown = 0
        self._source = OWN  # bcc attached every program it loaded
        shared = self.shared_sys_exit
        if shared is not None and self._move_failures not in shared.denials_watchers:
            shared.denials_watchers.append(self._move_failures)
        self._move_failures()

    def stop(self) -> None:
        if self.active:
            self.poll()
        self._lookups.flush(time.time(), everything=True)
        self._release_shared()
        self._source = None
        super().stop()

    def poll(self) -> None:
        # Failures first: a lookup's failed tries come before its success.
        if self._source == SHARED:
            assert self.shared_sys_exit is not None
            self.shared_sys_exit.poll()
        super().poll()
        self._lookups.flush(time.time())

    def deliver(self, record: Record) -> None:
        assert isinstance(record, ExecRecord)
        self._lookups.add(record)

    def status_code(self) -> str | None:
        """Failures off, or from a hook on every syscall (the pane names the key that
        turns them off)."""
        if not self.active:
            return None
        if self._source is None:
            return EXEC_FAILURES_OFF
        if self._source == SHARED or self.step is SYS_EXIT_STEP:
            return EXEC_FAILURES_COSTLY
        return None

    def via(self) -> str | None:
        if self.step is None or not self.active:
            return None
        if self._source == SHARED:
            return SHARED_VIA
        if self._source is None:
            return f"{SUCCESS_VIA} (failed execs off)"
        return self.step.via

    def failures_stay_on(self) -> str | None:
        """Why failed execs stay on whatever F says with this step, or None."""
        if self.step is SYSCALL_STEP:  # the same tracepoints see every exec
            return "failed execs stay on with this step"
        if self.step is FEXIT_STEP and not tracing_programs_reattach():
            return "failed execs stay on: this kernel cannot attach fexit again"
        return None

    def _wanted_source(self) -> str | None:
        if self.failures_stay_on():
            return OWN
        if not self.failures:
            return None
        shared = self.shared_sys_exit
        if (
            self.step is SYS_EXIT_STEP
            and shared is not None
            and shared.exec_part
            and DENIALS in shared.users()
        ):
            return SHARED
        return OWN

    def _move_failures(self) -> None:
        """Take failures from where they cost least now: attach the new source before
        letting go of the old one, so none is missed in between."""
        if not self.active:
            return
        wanted = self._wanted_source()
        self.notice = None if self.failures else self.failures_stay_on()
        if wanted == self._source:
            return
        if wanted == OWN:
            self._set_own_hooks(True)
        elif wanted == SHARED:
            self._join_shared()
        if self._source == OWN:
            self._set_own_hooks(False)
        elif self._source == SHARED:
            self._release_shared()
        self._source = wanted

    def _set_own_hooks(self, on: bool) -> None:
        """Attach or detach the step's own failure hooks (bcc attached them at load)."""
        bpf = self._bpf
        for fn in FAILURE_FUNCTIONS if self.step is not SYS_EXIT_STEP else ():
            name = fn.encode()
            if self.step is FEXIT_STEP and on:
                bpf.attach_kretfunc(fn_name=name)
            elif self.step is FEXIT_STEP:
                bpf.detach_kretfunc(fn_name=name)
            elif on:
                bpf.attach_kretprobe(event=name, fn_name=b"kretprobe__" + name)
            else:
                bpf.detach_kretprobe(event=name)
        for tp in FAILURE_TRACEPOINTS if self.step is SYS_EXIT_STEP else ():
            if on:
                bpf.attach_tracepoint(tp=tp.encode(), fn_name=tracepoint_function(tp))
            else:
                bpf.detach_tracepoint(tp=tp.encode())

    def _join_shared(self) -> None:
        shared = self.shared_sys_exit
        assert shared is not None, "the engine gives every probe the shared sys_exit hook"
        failures = shared.acquire(EXEC_FAILURES, self.emit_event)
        write_filter(failures[b"filter"], self._filter, self.hidden_tgid)
        self._shared_base = self._shared_totals()

    def _release_shared(self) -> None:
        if self._source != SHARED:
            return
        shared = self.shared_sys_exit
        assert shared is not None
        if shared.bpf is not None:
            for key, value in self._shared_totals().items():
                self._shared_carried[key] += value - self._shared_base[key]
        shared.release(EXEC_FAILURES)

    def _shared_totals(self) -> dict[str, int]:
        assert self.shared_sys_exit is not None
        table = self.shared_sys_exit.bpf[b"exec_counters"]
        return {
            name: int(sum(table[ctypes.c_int(slot)]))
            for slot, name in enumerate(SHARED_COUNTER_NAMES)
        }

    def _write_filter(self) -> None:
        super()._write_filter()
        if self._source == SHARED:
            assert self.shared_sys_exit is not None
            write_filter(self.shared_sys_exit.bpf[b"filter"], self._filter, self.hidden_tgid)

    def read_counts(self) -> dict[str, int]:
        self.poll()  # the events the counters counted, so lookups are decided first
        counts = super().read_counts()
        if counts:
            shared = self._shared_totals() if self._source == SHARED else self._shared_base
            for key in SHARED_COUNTER_NAMES:
                counts[key] += self._shared_carried[key] + shared[key] - self._shared_base[key]
            # PATH lookups' failed tries are not failures; tries still held are not yet.
            # Never below what was shown: a try counted in the microseconds between
            # the drain and this read could otherwise make an interval's count negative.
            failed = counts["failed"] - self._lookups.folded - self._lookups.held
            self._failed_shown = max(self._failed_shown, failed)
            counts["failed"] = self._failed_shown
        return counts

    def prog_fds(self) -> list[int]:
        shared = self.shared_sys_exit
        own = shared.part_fds(EXEC_FAILURES) if shared is not None else []
        return super().prog_fds() + own

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
