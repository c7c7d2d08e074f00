"""The one every-syscall hook: bpf/denials.c's raw_tracepoint:sys_exit program, run for
the denials probe and joined by the exec probe for its failed execs.

Any program on a syscall hook puts every syscall of the box on the tracing slow path
(docs/benchmarks.md). Where nothing cheaper than a syscall tracepoint sees failed execs,
the exec probe takes them from this program while the denials probe runs it, rather than
paying for a second hook. The denials probe owns the program's life: when it goes, the
exec probe is told first (`denials_watchers`) and moves back to its own hooks.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable
from typing import Any

from bpftop.core.resources import bpf_dir
from bpftop.loader.compiler import COMPILER, CompileRequest
from bpftop.probes.base import PlanStep, common_cflags, tracepoint_function

DENIALS = "denials"
EXEC_FAILURES = "exec"
SOURCE = "denials.c"
FORK_TRACEPOINT = "sched:sched_process_fork"  # the exec part's own hook (ppid, filter)
FORK_PROGRAM = tracepoint_function(FORK_TRACEPOINT)

EventHandler = Callable[[Any, int], None]  # (ring buffer table, raw event address)


class SharedSysExit:
    def __init__(self, *, exec_part: bool, compat_cflags: tuple[str, ...] = ()) -> None:
        self.compat_cflags = compat_cflags  # the kernel's helper fallbacks (Probe's)
        # Compile the exec part in (bpf/denials.c, EXEC_PART): only where the exec
        # probe would join, so other kernels do not carry its maps.
        self.exec_part = exec_part
        self._bpf: Any = None
        self._handlers: dict[str, EventHandler] = {}
        self._fork_attached = False  # the exec part's own hook
        # Called after the denials probe came or went, so the exec probe can move its
        # failures onto this program or off it.
        self.denials_watchers: list[Callable[[], None]] = []

    @property
    def bpf(self) -> Any:
        return self._bpf

    def users(self) -> frozenset[str]:
        return frozenset(self._handlers)

    def acquire(self, user: str, on_event: EventHandler, step: PlanStep | None = None) -> Any:
        """Turn `user`'s part on. The denials probe compiles and attaches the program
        with its plan's `step`; the exec probe only joins a running one."""
        if user == EXEC_FAILURES and not self.exec_part:
            raise RuntimeError("the denials probe's program has no exec part on this kernel")
        if self._bpf is None:
            if user != DENIALS or step is None:
                raise RuntimeError("the denials probe's sys_exit program is not running")
            self._compile(step)
        self._handlers[user] = on_event
        self._apply_exec_part()
        if user == DENIALS:
            self._tell_watchers()
        return self._bpf

    def release(self, user: str) -> None:
        """Turn `user`'s part off; the denials probe leaving unloads the program, once
        the exec probe has moved off it."""
        if self._handlers.pop(user, None) is None or self._bpf is None:
            return
        if user == DENIALS:
            self._tell_watchers()  # the exec probe moves off, releasing its part
        if self._bpf is None:  # the exec probe was the last user
            return
        if DENIALS in self._handlers:
            self._apply_exec_part()
            return
        self._handlers.clear()  # a watcher that failed to move: its failures stop here
        self._bpf.cleanup()
        self._bpf = None

    def part_fds(self, part: str) -> list[int]:
        """The programs that run for `part`, for its share of the BPF run time: the
        exec part's fork hook, and everything else for the denials part."""
        if self._bpf is None or part not in self._handlers:
            return []
        funcs = self._bpf.funcs
        if part == EXEC_FAILURES:
            return [funcs[FORK_PROGRAM].fd] if FORK_PROGRAM in funcs else []
        return [fn.fd for name, fn in funcs.items() if name != FORK_PROGRAM]

    def poll(self) -> None:
        if self._bpf is not None:
            self._bpf.ring_buffer_consume()

    def _tell_watchers(self) -> None:
        for watcher in self.denials_watchers:
            watcher()

    def compile_request(self, step: PlanStep) -> CompileRequest:
        cflags = common_cflags(self.compat_cflags) + step.cflags
        if self.exec_part:
            cflags += ("-DEXEC_PART",)
        return CompileRequest(str(bpf_dir() / SOURCE), cflags)

    def _compile(self, step: PlanStep) -> None:
        bpf = COMPILER.load(self.compile_request(step))
        try:
            bpf.attach_loaded()
            rings = [(b"events", DENIALS)]
            if self.exec_part:
                rings.append((b"exec_events", EXEC_FAILURES))
            for table, user in rings:
                events = bpf[table]
                events.open_ring_buffer(self._dispatcher(user, events))
        except Exception:
            bpf.cleanup()
            raise
        self._bpf = bpf
        self._fork_attached = self.exec_part  # every loaded program was attached

    def _dispatcher(self, user: str, events: Any) -> Callable[[Any, int, int], None]:
        def dispatch(_ctx: Any, data: int, _size: int) -> None:
            handler = self._handlers.get(user)
            if handler is not None:  # None: sent just before its user left
                handler(events, data)

        return dispatch

    def _apply_exec_part(self) -> None:
        """The exec part on or off in the kernel, with its fork hook."""
        if not self.exec_part:
            return
        on = EXEC_FAILURES in self._handlers
        self._bpf[b"exec_part"][ctypes.c_int(0)] = ctypes.c_uint(int(on))
        if on != self._fork_attached:
            if on:
                self._bpf.attach_tracepoint(tp=FORK_TRACEPOINT.encode(), fn_name=FORK_PROGRAM)
            else:
                self._bpf.detach_tracepoint(tp=FORK_TRACEPOINT.encode())
            self._fork_attached = on
