"""The BPF thread: the only code that calls bcc.

It has probes compiled in child processes (bpftop/loader/compiler.py; the
start-up compiles run side by side), attaches and detaches them on request,
drains their ring buffers, and once per interval turns the kernel-side counters
into interval records. Everything it learns leaves as
immutable records through one `sink` callable, from this thread.
"""

from __future__ import annotations

import contextlib
import functools
import queue
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future

from bpftop.core.commands import (
    Command,
    Enable,
    SetDiskSlow,
    SetExecFailures,
    SetFilter,
    SetTarget,
    SetUprobeBudget,
    UprobeAttach,
    UprobeClear,
    UprobeDetach,
    UprobePython,
    UprobeQueue,
    XdpAddRule,
    XdpAttach,
    XdpClearRules,
    XdpDetach,
)
from bpftop.core.filters import Filter
from bpftop.core.records import ProbeCounts, ProbeStatus, Record
from bpftop.core.stderr_capture import StderrCapture, first_error_line
from bpftop.core.xdp_rules import ControlArg
from bpftop.host.kernel import KernelFeatures
from bpftop.loader.compiler import COMPILER
from bpftop.loader.stats import BpfStats
from bpftop.loader.struct_offsets import StructOffsetError, fallback_cflags
from bpftop.probes.base import KernelClock, Probe
from bpftop.probes.deltas import RunningTotals
from bpftop.probes.shared_sys_exit import SharedSysExit

POLL_SECONDS = 0.05
# BPF run-time stats cost two clock reads per program run (~60 ns here, +16% on a
# getppid loop under the denials probe), so they are on for one interval in ten.
STATS_SAMPLE_EVERY = 10


def helper_fallback_cflags(kernel: KernelFeatures) -> tuple[str, ...]:
    """The fallbacks for the helpers this kernel lacks, with the struct offsets they
    read. Without those (no BTF) the flags stay, and each compile says why it fails."""
    flags = kernel.compat_cflags()
    if flags:
        with contextlib.suppress(StructOffsetError):
            flags += fallback_cflags()
    return flags


class BpfEngine:
    def __init__(
        self,
        kernel: KernelFeatures,
        probe_classes: Iterable[type[Probe]],
        sink: Callable[[Record], None],
        *,
        enabled: Iterable[str],
        interval: float = 1.0,
        stderr: StderrCapture | None = None,
        hide_pid: int = 0,
    ) -> None:
        """`hide_pid`: a process whose own activity no probe shows (bpftop's, when run
        from the command line: its map reads and /proc walks are not the box's)."""
        self._kernel = kernel
        self._deliver = sink
        # Read from the BPF thread, replaced whole from any thread (no lock needed).
        self._filter = Filter()
        self._interval = interval
        self._stderr = stderr
        self._clock = clock = KernelClock()
        self.probes: dict[str, Probe] = {cls.name: cls(self._sink, clock) for cls in probe_classes}
        compat_cflags = helper_fallback_cflags(kernel)
        shared_sys_exit = SharedSysExit(
            exec_part=any(p.joins_shared_sys_exit(kernel) for p in self.probes.values()),
            compat_cflags=compat_cflags,
        )
        for probe in self.probes.values():
            probe.shared_sys_exit = shared_sys_exit
            probe.hidden_tgid = hide_pid
            probe.compat_cflags = compat_cflags
        self._wanted = [name for name in enabled if name in self.probes]
        # Work for the BPF thread, queued from any thread.
        self._commands: queue.Queue[Callable[[], None]] = queue.Queue()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bpf", daemon=True)
        self._counts: dict[str, RunningTotals[str, int]] = {}  # per probe
        self._last_run_ns: dict[str, int] = {}
        self._last_read: dict[str, float] = {}
        # The last "attached" status of each probe: via, reason, code.
        self._shown: dict[str, tuple[str | None, str | None, str | None] | None] = {}
        self._stats: BpfStats | None = None
        self._stats_window = False  # stats were on for the whole current interval
        self._ticks = 0
        self.ready = threading.Event()  # set once the start-up attaches are done

    # -- called from any thread ------------------------------------------------------
    def start(self) -> None:
        self._thread.start()

    def submit(self, command: Command) -> Future[None]:
        """Apply `command` (bpftop/core/commands.py) on the BPF thread, which owns every
        bcc object; before the engine starts, at once (the probes record it and apply it
        as they attach). The future completes once it is applied: a refused action is
        not an error there but a notice on the probe's status."""
        done: Future[None] = Future()
        if isinstance(command, SetFilter):
            self._filter = command.filter  # the sink drops the rest at once
        started = self._thread.is_alive()  # asked once: the thread may start meanwhile
        work: Callable[[], None]
        if isinstance(command, Enable):  # attaching waits for the start-up attaches
            work = functools.partial(self._set_enabled, command.probe, command.on)
        else:
            work = self._applier(command, on_thread=started)

        def run() -> None:
            try:
                work()
            except BaseException as exc:
                done.set_exception(exc)
                raise
            done.set_result(None)

        if started or isinstance(command, Enable):
            self._commands.put(run)
        else:
            run()
        return done

    def _applier(self, command: Command, *, on_thread: bool) -> Callable[[], None]:
        """What applying `command` takes: the probes' own calls, checked here (a probe
        that is not there, or takes no such setting, is an error at once). On the BPF
        thread a probe's failure is caught and shown on its status."""
        wrap: Callable[[str, Callable[[], None]], None]
        match command:
            case SetFilter():
                steps = [(p.name, functools.partial(p.set_filter, command.filter))
                         for p in self.probes.values()]  # fmt: skip
                wrap = self._guarded
            case SetDiskSlow() | SetExecFailures() | SetUprobeBudget() | SetTarget():
                steps = [(name, functools.partial(self._probe_for(name, setting).configure,
                                                  setting, value))
                         for name, setting, value in self._settings_of(command)]  # fmt: skip
                wrap = self._reconfigure
            case _:
                name, action, arg = _control_of(command)
                steps = [(name, functools.partial(self._probe_for(name, action).control,
                                                  action, arg))]  # fmt: skip
                wrap = self._guarded_control

        def apply_all() -> None:
            for name, apply in steps:
                if on_thread:
                    wrap(name, apply)
                else:
                    apply()

        return apply_all

    def _settings_of(self, command: Command) -> list[tuple[str, str, float]]:
        """(probe, setting, value) for a setting command."""
        match command:
            case SetDiskSlow():
                return [("disk", "slow_ms", command.ms)]
            case SetExecFailures():
                return [("exec", "failures", float(command.on))]
            case SetUprobeBudget():
                return [("uprobes", "budget_pct", command.pct)]
            case SetTarget():  # every per-pid probe this engine has
                return [(name, "pid", command.pid) for name, probe in self.probes.items()
                        if "pid" in probe.settings]  # fmt: skip
        raise ValueError(f"not a setting: {command}")

    def _probe_for(self, name: str, setting_or_action: str) -> Probe:
        probe = self.probes.get(name)
        if probe is None or setting_or_action not in (*probe.settings, *probe.controls):
            raise ValueError(f"probe {name} has no setting or action {setting_or_action!r}")
        return probe

    def _sink(self, record: Record) -> None:
        if self._filter.keeps(record):
            self._deliver(record)

    def _reconfigure(self, name: str, apply: Callable[[], None]) -> None:
        self._guarded(name, apply)
        self._report_new_attachments()

    def _report_new_attachments(self, only: str | None = None) -> None:
        """A running probe whose attachment changed (exec failures turned off, or moved
        onto the denials probe's program as that one came) says so in a fresh status.
        `only`: the one probe that can have changed (it just read its interval)."""
        for name, probe in self.probes.items():
            if only is not None and name != only:
                continue
            now = (probe.via(), probe.notice, probe.status_code())
            if probe.active and self._shown.get(name) != now:
                self._status(name, "attached", via=now[0], reason=now[1], code=now[2])

    def _guarded_control(self, name: str, apply: Callable[[], None]) -> None:
        """A refused action (bad interface, one with an XDP program) is a notice on
        the probe's status, not a reason to stop the probe."""
        try:
            apply()
        except (OSError, ValueError) as exc:
            probe = self.probes[name]
            state = "attached" if probe.active else "detached"
            self._status(name, state, reason=str(exc))

    def stop(self, timeout: float = 5.0) -> None:
        """Detach everything and wait for the thread to finish."""
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    # -- the BPF thread ----------------------------------------------------------
    def _run(self) -> None:
        try:
            self._stats = BpfStats()
        except OSError:
            self._stats = None
        try:
            self._prefetch_compiles()
            for name in self._wanted:
                if self._stopping.is_set():
                    break
                self._attach(name)
                self._report_new_attachments()
            self.ready.set()
            self._sample_stats(True)  # the first interval shows the cost at once
            next_tick = time.monotonic() + self._interval
            while not self._stopping.is_set():
                self._handle_commands()
                self._poll_active()
                if time.monotonic() >= next_tick:
                    self._emit_counts()
                    self._ticks += 1
                    self._sample_stats(self._ticks % STATS_SAMPLE_EVERY == 0)
                    next_tick += self._interval
                    next_tick = max(next_tick, time.monotonic())
                self._stopping.wait(POLL_SECONDS)
            self._poll_active()
            self._emit_counts()
        finally:
            for name, probe in self.probes.items():
                if probe.active:
                    probe.stop()
                    self._status(name, "detached")
            if self._stats:
                self._stats.close()
            COMPILER.close()
            self.ready.set()

    def _prefetch_compiles(self) -> None:
        """Start every start-up compile at once (as many run as there are CPUs);
        `_attach` then takes them in order."""
        for name in self._wanted:
            probe = self.probes[name]
            step, _ = probe.plan_for(self._kernel)
            if step is not None:
                # A request that cannot be made (a pid probe without its pid) fails
                # again in `_attach`, which reports it.
                with contextlib.suppress(Exception):
                    COMPILER.prefetch(probe.compile_request(step))

    def _handle_commands(self) -> None:
        while True:
            try:
                command = self._commands.get_nowait()
            except queue.Empty:
                return
            command()

    def _set_enabled(self, name: str, on: bool) -> None:
        probe = self.probes.get(name)
        if probe is None or probe.active == on:
            return
        if on:
            self._attach(name)
        else:
            self._guarded(name, probe.poll)
            self._guarded(name, functools.partial(self._emit_counts_for, name))
            probe.stop()
            self._status(name, "detached")
        self._report_new_attachments()

    def _attach(self, name: str) -> None:
        """The first step this kernel offers; if it fails to compile or attach (a
        kernel that lists a hook but refuses it), the next one, saying why."""
        probe = self.probes[name]
        step, skipped = probe.plan_for(self._kernel)
        reason = "no usable attach point"
        while step is not None:
            self._status(name, "attaching", via=step.via, skipped=skipped)
            mark = self._stderr.mark() if self._stderr else 0
            try:
                probe.start(step)
            except Exception as exc:
                detail = first_error_line(self._stderr.since(mark)) if self._stderr else None
                reason = str(exc) if detail is None else f"{exc}: {detail}"
                skipped += ((step.via, f"failed: {reason}"),)
                step, passed_over = probe.plan_for(self._kernel, after=step)
                skipped += passed_over
                continue
            self._counts[name] = RunningTotals()
            self._counts[name].baseline(probe.read_counts())
            self._last_run_ns[name] = self._run_time_ns(probe)
            self._last_read[name] = time.monotonic()
            self._status(
                name,
                "attached",
                via=probe.via(),
                reason=probe.notice,
                skipped=skipped,
                code=probe.status_code(),
            )
            return
        self._status(name, "unavailable", reason=reason, skipped=skipped)

    def _status(
        self,
        name: str,
        state: str,
        *,
        via: str | None = None,
        reason: str | None = None,
        skipped: tuple[tuple[str, str], ...] = (),
        code: str | None = None,
    ) -> None:
        self._shown[name] = (via, reason, code) if state == "attached" else None
        self._sink(ProbeStatus(time.time(), name, state, via, reason, skipped, code))

    def _sample_stats(self, on: bool) -> None:
        """Run time only accumulates while stats are on, so an interval's delta is
        exact when they were on throughout it, and reported only then."""
        if self._stats is None:
            return
        if on:
            self._stats_window = self._stats.enable()
        else:
            self._stats.close()
            self._stats_window = False

    def _run_time_ns(self, probe: Probe) -> int:
        if self._stats is None:
            return 0
        return sum(self._stats.prog_info(fd)[1] for fd in probe.prog_fds())

    def _emit_counts(self) -> None:
        for name, probe in self.probes.items():
            if probe.active:
                self._guarded(name, functools.partial(self._emit_counts_for, name))

    def _poll_active(self) -> None:
        for name, probe in self.probes.items():
            if probe.active:
                self._guarded(name, probe.poll)

    def _guarded(self, name: str, step: Callable[[], None]) -> None:
        """Run one probe's step; if it breaks, that probe goes away, not the thread."""
        try:
            step()
        except Exception as exc:
            probe = self.probes[name]
            if probe.active:
                probe.stop()
            self._status(name, "unavailable", reason=f"stopped after error: {exc}")

    def _emit_counts_for(self, name: str) -> None:
        """One interval record: the change of every kernel counter since the last one."""
        probe = self.probes[name]
        # The interval ends as the counters are read: an event stamped up to then was
        # counted in this record (bpftop.outputs.report matches events to counts by it). On the
        # events' own clock (CLOCK_MONOTONIC, as bpf_ktime_get_ns), so the two compare.
        ends = self._clock.wall(time.monotonic_ns())
        delta = self._counts.setdefault(name, RunningTotals()).deltas(probe.read_counts())
        run_ns = self._run_time_ns(probe)
        # max(): a probe that let go of a shared program (exec failures off) lost its time.
        bpf_ns = max(0, run_ns - self._last_run_ns.get(name, 0)) if self._stats_window else None
        self._last_run_ns[name] = run_ns
        now = time.monotonic()
        interval = now - self._last_read.get(name, now)
        self._last_read[name] = now
        lost = delta.pop(probe.lost_counter, 0)
        self._sink(
            ProbeCounts(
                ts=ends,
                probe=name,
                interval_s=round(interval, 3),
                counts=delta,
                lost=lost,
                bpf_ns=bpf_ns,
            )
        )
        for record in probe.interval_records(round(interval, 3)):
            self._sink(record)
        # The probe may have changed what it holds (uprobes, fexit on XDP programs).
        self._report_new_attachments(only=name)
        if probe.done_reason:
            probe.stop()
            self._status(name, "detached", reason=probe.done_reason)


def _control_of(command: Command) -> tuple[str, str, ControlArg]:
    """(probe, action, argument) of an action command."""
    match command:
        case XdpAttach():
            return "xdp", "attach", command.ifname
        case XdpDetach():
            return "xdp", "detach", command.ifname
        case XdpAddRule():
            return "xdp", "rule", command.rule
        case XdpClearRules():
            return "xdp", "clear_rules", command.ifname
        case UprobeAttach():
            return "uprobes", "attach", command.spec
        case UprobeDetach():
            return "uprobes", "detach", command.spec
        case UprobeQueue():
            return "uprobes", "queue", "\n".join(command.specs)
        case UprobePython():
            return "uprobes", "python", ""
        case UprobeClear():
            return "uprobes", "clear", ""
    raise ValueError(f"not an action: {command}")
