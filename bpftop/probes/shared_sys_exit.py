"""The one every-syscall hook: bpf/denials.c's raw_tracepoint:sys_exit program, shared
by the denials probe and the exec probe's failures.

Any program on a syscall hook puts every syscall of the box on the tracing slow path
(docs/benchmarks.md), so where nothing cheaper sees failed execs, they come from the
program the denials probe already pays for. The BPF object lives while either user
wants it; each user's part is switched on in the kernel (`parts`), and the hooks only
one part needs are attached only while that part is on, so turning the denials pane
off really detaches the capability and LSM hooks even while execs keep the program.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable
from typing import Any

from bpftop.kernel import KernelFeatures
from bpftop.probes.base import PlanStep, choose_step, ringbuf_pages, tracepoint_function
from bpftop.resources import bpf_dir

DENIALS = "denials"
EXEC_FAILURES = "exec"
PARTS = (DENIALS, EXEC_FAILURES)  # slot order of the `parts` array (PART_*)
SOURCE = "denials.c"
FORK_TRACEPOINT = "sched:sched_process_fork"  # the exec part's own hook (ppid, filter)
FORK_PROGRAM = tracepoint_function(FORK_TRACEPOINT)
SYS_EXIT_PROGRAM = b"raw_tracepoint__sys_exit"

EventHandler = Callable[[Any, int], None]  # (decoded event, raw address)

# fexit targets of the LSM steps (LSM_* bits in bpf/denials.c).
LSM_HOOKS = ("hook_file_open", "apparmor_file_open")

# The ways to build the program, richest first: they differ in the hooks that name a
# denial's cause (the denials probe's plan; the exec part is the same in all).
SYS_EXIT_PLAN = (
    # Where tracing programs load: also which LSM refused (fexit on its hooks).
    PlanStep(
        via="raw_tracepoint:sys_exit + tracepoint:capability:cap_capable + fexit:LSM hooks",
        tracepoints=("raw_syscalls:sys_exit", "capability:cap_capable"),
        prog_type="raw_tracepoint",
        fexit=LSM_HOOKS,
        cflags=("-DLSM_FEXIT",),
    ),
    PlanStep(
        via="raw_tracepoint:sys_exit + kprobe:cap_capable + fexit:LSM hooks",
        tracepoints=("raw_syscalls:sys_exit",),
        prog_type="raw_tracepoint",
        kprobes=("cap_capable",),
        fexit=LSM_HOOKS,
        cflags=("-DCAP_KPROBE", "-DLSM_FEXIT"),
    ),
    PlanStep(
        via="raw_tracepoint:sys_exit + tracepoint:capability:cap_capable",
        tracepoints=("raw_syscalls:sys_exit", "capability:cap_capable"),
        prog_type="raw_tracepoint",
    ),
    # The tracepoint is recent (6.1 and 6.12 lack it); they have the function.
    PlanStep(
        via="raw_tracepoint:sys_exit + kprobe:cap_capable",
        tracepoints=("raw_syscalls:sys_exit",),
        prog_type="raw_tracepoint",
        kprobes=("cap_capable",),
        cflags=("-DCAP_KPROBE",),
    ),
    # Every denial with its path or address, only the refused capability unknown.
    PlanStep(
        via="raw_tracepoint:sys_exit (no capability causes)",
        tracepoints=("raw_syscalls:sys_exit",),
        prog_type="raw_tracepoint",
        cflags=("-DNO_CAP_HOOK",),
    ),
)


class SharedSysExit:
    def __init__(self, kernel: KernelFeatures) -> None:
        self._kernel = kernel
        self._bpf: Any = None
        self.step: PlanStep | None = None  # the denials step it was compiled with
        self._handlers: dict[str, EventHandler] = {}
        self._attached: set[str] = set()  # parts whose own hooks are attached
        self.decode_errors = 0
        # Called after the denials part came or went (the exec probe then moves its
        # failures onto this program or off it).
        self.denials_watchers: list[Callable[[], None]] = []

    @property
    def bpf(self) -> Any:
        return self._bpf

    def users(self) -> frozenset[str]:
        return frozenset(self._handlers)

    def acquire(self, user: str, on_event: EventHandler, step: PlanStep | None = None) -> Any:
        """Turn `user`'s part on, compiling and attaching the program if nobody had it.
        `step`: the denials plan step to compile with; the exec probe passes none and
        gets the first one this kernel offers, so the denials probe can join later
        without a second compile. Returns the BPF object."""
        if self._bpf is None:
            self._compile(step or self._first_denial_step())
            self._attached = set(PARTS)  # bcc attached every program it loaded
        joined = user not in self._handlers
        self._handlers[user] = on_event
        try:
            self._apply_parts()
        except Exception:
            self.release(user)
            raise
        if joined and user == DENIALS:
            self._tell_watchers()
        return self._bpf

    def release(self, user: str) -> None:
        """Turn `user`'s part off; the last user unloads the program."""
        if self._handlers.pop(user, None) is None or self._bpf is None:
            return
        if self._handlers:
            self._apply_parts()
        else:
            self._bpf.cleanup()
            self._bpf = None
            self.step = None
            self._attached = set()
        if user == DENIALS:
            self._tell_watchers()

    def _tell_watchers(self) -> None:
        for watcher in self.denials_watchers:
            watcher()

    def part_fds(self, part: str) -> list[int]:
        """The programs that run for `part`, for its share of the BPF run time: the
        exec part's own fork hook, plus sys_exit itself while denials are off."""
        if self._bpf is None or part not in self._handlers:
            return []
        funcs = self._bpf.funcs
        if part == EXEC_FAILURES:
            names = [FORK_PROGRAM] + ([] if DENIALS in self._handlers else [SYS_EXIT_PROGRAM])
            return [funcs[name].fd for name in names if name in funcs]
        return [fn.fd for name, fn in funcs.items() if name != FORK_PROGRAM]

    def poll(self) -> None:
        if self._bpf is not None:
            self._bpf.ring_buffer_consume()

    def _first_denial_step(self) -> PlanStep:
        step, skipped = choose_step(SYS_EXIT_PLAN, self._kernel)
        if step is None:
            raise RuntimeError("no sys_exit hook here: " + "; ".join(why for _, why in skipped))
        return step

    def _compile(self, step: PlanStep) -> None:
        from bcc import BPF  # imported here: only the BPF thread pays for bcc

        cflags = [f"-I{bpf_dir()}", f"-DRINGBUF_PAGES={ringbuf_pages()}", *step.cflags]
        bpf = BPF(src_file=str(bpf_dir() / SOURCE).encode(), cflags=cflags)
        try:
            for table, user in ((b"events", DENIALS), (b"exec_events", EXEC_FAILURES)):
                events = bpf[table]
                events.open_ring_buffer(self._dispatcher(user, events))
        except Exception:
            bpf.cleanup()
            raise
        self._bpf = bpf
        self.step = step

    def _dispatcher(self, user: str, events: Any) -> Callable[[Any, int, int], None]:
        def dispatch(_ctx: Any, data: int, _size: int) -> None:
            handler = self._handlers.get(user)
            if handler is None:  # in flight while the part was turned off
                return
            try:
                handler(events.event(data), data)
            except Exception:  # a bad record must not kill the BPF thread
                self.decode_errors += 1

        return dispatch

    def _apply_parts(self) -> None:
        table = self._bpf[b"parts"]
        for slot, part in enumerate(PARTS):
            on = part in self._handlers
            table[ctypes.c_int(slot)] = ctypes.c_uint(int(on))
            if on and part not in self._attached:
                self._attach_part(part)
                self._attached.add(part)
            elif not on and part in self._attached:
                self._detach_part(part)
                self._attached.discard(part)

    def _attach_part(self, part: str) -> None:
        bpf, step = self._bpf, self.step
        assert step is not None
        if part == EXEC_FAILURES:
            bpf.attach_tracepoint(tp=FORK_TRACEPOINT.encode(), fn_name=FORK_PROGRAM)
            return
        for tp in cause_tracepoints(step):
            bpf.attach_tracepoint(tp=tp.encode(), fn_name=tracepoint_function(tp))
        for fn in step.kprobes:
            bpf.attach_kprobe(event=fn.encode(), fn_name=f"kprobe__{fn}".encode())
            bpf.attach_kretprobe(event=fn.encode(), fn_name=f"kretprobe__{fn}".encode())
        for fn in step.fexit:
            bpf.attach_kretfunc(fn_name=fn.encode())

    def _detach_part(self, part: str) -> None:
        bpf, step = self._bpf, self.step
        assert step is not None
        if part == EXEC_FAILURES:
            bpf.detach_tracepoint(tp=FORK_TRACEPOINT.encode())
            return
        for tp in cause_tracepoints(step):
            bpf.detach_tracepoint(tp=tp.encode())
        for fn in step.kprobes:
            bpf.detach_kprobe(event=fn.encode())
            bpf.detach_kretprobe(event=fn.encode())
        for fn in step.fexit:
            bpf.detach_kretfunc(fn_name=fn.encode())


def cause_tracepoints(step: PlanStep) -> tuple[str, ...]:
    """The step's tracepoints other than the shared sys_exit itself (cap_capable)."""
    return tuple(tp for tp in step.tracepoints if tp != "raw_syscalls:sys_exit")
