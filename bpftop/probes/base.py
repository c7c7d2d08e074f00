"""What every probe shares: an ordered attach plan, compile/attach/detach, drain, counters.

A probe's BPF object lives only while the probe is on: `stop()` unloads the
programs, so toggling a probe off really removes it from the kernel.
"""

from __future__ import annotations

import ctypes
import dataclasses
import os
import time
from abc import ABC
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from bpftop.core.filters import Filter
from bpftop.core.records import Record
from bpftop.core.resources import bpf_dir
from bpftop.core.xdp_rules import ControlArg
from bpftop.host.kernel import KernelFeatures
from bpftop.loader.compiler import COMPILER, CompileRequest

if TYPE_CHECKING:
    from bpftop.probes.shared_sys_exit import SharedSysExit

RINGBUF_PAGES = 512  # 2 MiB per probe: ~0.3 s of the fastest exec storm between drains


def ringbuf_pages() -> int:
    """RINGBUF_PAGES, or BPFTOP_RINGBUF_PAGES (a power of two): the benchmark shrinks the
    buffer to show what overflow looks like, since this box cannot outrun 2 MiB."""
    text = os.environ.get("BPFTOP_RINGBUF_PAGES", "")
    if text.isdigit() and int(text) > 0 and int(text) & (int(text) - 1) == 0:
        return int(text)
    return RINGBUF_PAGES


@dataclass(frozen=True)
class PlanStep:
    """One way to attach a probe. `via` is what the pane shows."""

    via: str
    tracepoints: tuple[str, ...] = ()
    prog_type: str = "tracepoint"
    needs_ringbuf: bool = True
    cflags: tuple[str, ...] = ()
    kprobes: tuple[str, ...] = ()  # kernel functions the step puts kprobes on
    fexit: tuple[str, ...] = ()  # kernel functions the step puts fexit programs on
    helpers: tuple[str, ...] = ()  # BPF helpers (kernel.HELPERS) it has no fallback for

    def unavailable_reason(self, kernel: KernelFeatures) -> str | None:
        if reason := kernel.prog_type_reason(self.prog_type):
            return reason
        if self.kprobes and (reason := kernel.prog_type_reason("kprobe")):
            return reason
        if self.fexit and (reason := kernel.prog_type_reason("tracing")):
            return reason
        hooked = (*self.kprobes, *self.fexit)
        if hooked:
            there = kernel.traceable_functions(hooked)
            missing = [fn for fn in hooked if fn not in there]
            if missing:
                return "no traceable kernel function " + ", ".join(missing)
        missing = [h for h in self.helpers if not kernel.has_helper(self.prog_type, h)]
        if missing:
            return "no BPF helper " + ", ".join(f"bpf_{helper}" for helper in missing)
        if self.needs_ringbuf and not kernel.ringbuf:
            return "unavailable, no BPF ring buffer (kernel < 5.8)"
        missing = [tp for tp in self.tracepoints if not kernel.has_tracepoint(tp)]
        if missing:
            return "missing tracepoint " + ", ".join(missing)
        return None


def common_cflags(compat_cflags: tuple[str, ...]) -> tuple[str, ...]:
    """The flags every probe's program is compiled with: bpf/ for bpftop.h, the ring
    buffer's size, and the kernel's helper fallbacks."""
    return (f"-I{bpf_dir()}", f"-DRINGBUF_PAGES={ringbuf_pages()}", *compat_cflags)


def choose_step(
    plan: tuple[PlanStep, ...], kernel: KernelFeatures
) -> tuple[PlanStep | None, tuple[tuple[str, str], ...]]:
    """First usable step, and why each earlier one was passed over."""
    skipped: list[tuple[str, str]] = []
    for step in plan:
        reason = step.unavailable_reason(kernel)
        if reason is None:
            return step, tuple(skipped)
        skipped.append((step.via, reason))
    return None, tuple(skipped)


def tracepoint_function(tracepoint: str) -> bytes:
    """bcc's name for the TRACEPOINT_PROBE of "category:event" (to attach it again)."""
    category, _, event = tracepoint.partition(":")
    return f"tracepoint__{category}__{event}".encode()


def write_filter(table: Any, user_filter: Filter, hidden_tgid: int = 0) -> None:
    """The filter's kernel fields into a program's `filter` array (bpftop.h), and the
    process whose activity is never shown, whatever the filter (bpftop itself; 0: none)."""
    leaf = table.Leaf()
    fields = {name for name, *_ in leaf._fields_}
    values = {**user_filter.kernel_fields(), "self_tgid": hidden_tgid}
    for name, value in values.items():
        if name not in fields:  # a field missing from the C struct would be ignored silently
            raise ValueError(f"struct task_filter has no field {name!r} (bpf/bpftop.h)")
        setattr(leaf, name, value)
    table[ctypes.c_int(0)] = leaf


def c_string(raw: bytes) -> str:
    """A NUL-terminated char[] from the kernel (comm, paths) as text."""
    return raw.split(b"\0", 1)[0].decode("utf-8", "replace")


class KernelClock:
    """Turns bpf_ktime_get_ns() (CLOCK_MONOTONIC) into wall-clock seconds."""

    def __init__(self) -> None:
        self._offset = time.time() - time.monotonic()

    def wall(self, ktime_ns: int) -> float:
        return ktime_ns / 1e9 + self._offset


class Probe(ABC):
    name: ClassVar[str]
    title: ClassVar[str]
    source: ClassVar[str]  # file in bpf/
    plan: ClassVar[tuple[PlanStep, ...]]
    counter_names: ClassVar[tuple[str, ...]]  # slot order of the `counters` array
    lost_counter: ClassVar[str]
    settings: ClassVar[tuple[str, ...]] = ()  # what configure() accepts
    controls: ClassVar[tuple[str, ...]] = ()  # what control() accepts
    kernel_filter: ClassVar[bool] = True  # the program has a `filter` array (bpftop.h)
    streams_events: ClassVar[bool] = True  # the program has an `events` ring buffer
    # bcc's type for the source's functions without an attach prefix (uprobe slots).
    program_type: ClassVar[int | None] = None
    # The one every-syscall hook, shared by the denials and exec probes; set by the engine.
    shared_sys_exit: SharedSysExit | None = None

    def __init__(self, emit: Callable[[Record], None], clock: KernelClock) -> None:
        self._emit = emit
        self._clock = clock
        self._bpf: Any = None
        self._events: Any = None
        self.step: PlanStep | None = None  # the step it runs with
        self.decode_errors = 0
        self.notice: str | None = None  # shown with the "attached" status (a refused action)
        self._filter = Filter()
        self.hidden_tgid = 0  # a process never shown, whatever the filter (BpfEngine sets it)
        # The kernel's fallbacks for helpers it lacks, with the struct offsets they read
        # (engine.helper_fallback_cflags; set by BpfEngine), compiled into every program.
        self.compat_cflags: tuple[str, ...] = ()
        # Set by a probe whose target is gone (a process that exited): the engine
        # then detaches it, so it costs the box nothing more.
        self.done_reason: str | None = None

    @property
    def active(self) -> bool:
        return self._bpf is not None

    def start(self, step: PlanStep) -> None:
        """Compile and attach, then push the filter and settings into the maps."""
        self._bpf = self.load(step)
        self.step = step
        self.done_reason = None
        try:
            self._write_filter()
            self.on_started()
        except Exception:
            self.stop()
            raise

    def load(self, step: PlanStep) -> Any:
        """Compile (in a child process) and attach the step's programs; the BPF object."""
        bpf = COMPILER.load(self.compile_request(step))
        try:
            if self.kernel_filter:
                # Before anything attaches: else, for an instant, the programs would count
                # tasks the user filtered out (udev probing a new loop device, say).
                write_filter(bpf[b"filter"], self._filter, self.hidden_tgid)
            bpf.attach_loaded()
            if self.streams_events:
                self._events = bpf[b"events"]
                self._events.open_ring_buffer(self._on_event)
        except Exception:
            bpf.cleanup()
            raise
        return bpf

    def compile_request(self, step: PlanStep) -> CompileRequest:
        """What `load` compiles for `step` (the engine prefetches it at start-up)."""
        cflags = common_cflags(self.compat_cflags) + step.cflags
        return CompileRequest(
            str(self.source_path()), (*cflags, *self.compile_flags()), self.program_type
        )

    def set_filter(self, user_filter: Filter) -> None:
        """The user's filter; kept across stop/start, written to the kernel at once."""
        self._filter = user_filter
        self._write_filter()

    def _write_filter(self) -> None:
        """Programs that test tasks keep the filter in their `filter` array (bpftop.h)."""
        if self._bpf is None or not self.kernel_filter:
            return
        write_filter(self._bpf[b"filter"], self._filter, self.hidden_tgid)

    def via(self) -> str | None:
        """How it is attached, for the status (the running step's `via`, by default)."""
        return self.step.via if self.step is not None and self.active else None

    def status_code(self) -> str | None:
        """The `code` of its "attached" status (records.py), where the prose of `via`
        says something code must act on."""
        return None

    def compile_flags(self) -> list[str]:
        """Hook: -D flags of this attach (a target pid compiled in as a constant)."""
        return []

    @classmethod
    def plan_notes(cls, kernel: KernelFeatures) -> tuple[tuple[str, str], ...]:
        """Hook: richer sources this kernel cannot give, as (source, why) pairs."""
        return ()

    @classmethod
    def plan_for(
        cls, kernel: KernelFeatures, after: PlanStep | None = None
    ) -> tuple[PlanStep | None, tuple[tuple[str, str], ...]]:
        """The step this kernel lets the probe take, and every richer way passed over
        with why (what the pane's subtitle, the status record and --check show).
        `after`: a step that failed to start; only the steps after it are considered."""
        if after is None:
            step, skipped = choose_step(cls.plan, kernel)
            return step, skipped + cls.plan_notes(kernel)
        return choose_step(cls.plan[cls.plan.index(after) + 1 :], kernel)

    @classmethod
    def joins_shared_sys_exit(cls, kernel: KernelFeatures) -> bool:
        """Hook: whether this probe takes part in the shared sys_exit program here."""
        return False

    def on_started(self) -> None:  # noqa: B027 (an optional hook)
        """Hook: push settings into the fresh BPF object's maps."""

    def configure(self, setting: str, value: float) -> None:
        """Change one of `settings`; kept across stop/start, applied at once if running."""
        raise ValueError(f"probe {self.name} has no setting {setting!r}")

    def control(self, action: str, arg: ControlArg) -> None:
        """One of `controls`; remembered across stop/start, acted on at once if running."""
        raise ValueError(f"probe {self.name} has no action {action!r}")

    def interval_records(self, interval_s: float) -> list[Record]:
        """Hook: records aggregated in the kernel, read once per interval."""
        return []

    def source_path(self) -> Path:
        return bpf_dir() / self.source

    def stop(self) -> None:
        if self._bpf is not None:
            self._bpf.cleanup()
        self._bpf = None
        self._events = None

    def poll(self) -> None:
        if self._bpf is not None and self.streams_events:
            self._bpf.ring_buffer_consume()

    def prog_fds(self) -> list[int]:
        if self._bpf is None:
            return []
        return [fn.fd for fn in self._bpf.funcs.values()]

    def read_counts(self) -> dict[str, int]:
        """Running totals of the kernel-side counters, summed over CPUs."""
        if self._bpf is None:
            return {}
        table = self._bpf[b"counters"]
        return {
            name: int(sum(table[ctypes.c_int(slot)]))
            for slot, name in enumerate(self.counter_names)
        }

    def _on_event(self, _ctx: Any, data: int, _size: int) -> None:
        self.emit_event(self._events, data)

    def emit_event(self, table: Any, data: int) -> None:
        """Decode one event of the ring buffer `table` and send its record."""
        try:
            record = self.decode(table.event(data), data)
        except Exception:  # a bad record must not kill the BPF thread
            self.decode_errors += 1
            return
        if record is not None:
            self.deliver(record)

    def deliver(self, record: Record) -> None:
        """Hook: send a decoded event's record on (the exec probe holds some back)."""
        self._emit(record)

    def decode(self, event: Any, data: int) -> Record | None:
        """Turn one ring buffer event into a record. `data` is its raw address."""
        raise NotImplementedError(f"probe {self.name} streams no events")


class PidProbe(Probe):
    """A probe of one process (the drilldown's): its pid is compiled into the
    programs, so every other task leaves after one compare, and it detaches
    itself (done_reason) once the process is gone."""

    settings: ClassVar[tuple[str, ...]] = ("pid",)
    kernel_filter = False  # its own target, not the dashboard's filter
    streams_events = False  # interval totals only

    def __init__(self, emit: Callable[[Record], None], clock: KernelClock) -> None:
        super().__init__(emit, clock)
        self.pid: int | None = None

    def configure(self, setting: str, value: float) -> None:
        if setting != "pid":
            super().configure(setting, value)
        if self.active:
            raise ValueError(f"detach the {self.name} probe before changing its pid")
        self.on_new_pid(int(value))
        self.pid = int(value)

    def on_new_pid(self, pid: int) -> None:
        """Hook: forget what belonged to the previous target."""

    def compile_request(self, step: PlanStep) -> CompileRequest:
        """Never from the compile cache: a file per pid would pile up."""
        return dataclasses.replace(super().compile_request(step), cacheable=False)

    def compile_flags(self) -> list[str]:
        if self.pid is None:
            raise ValueError(f"the {self.name} probe needs a pid (--pid)")
        if not Path(f"/proc/{self.pid}").exists():
            raise ValueError(f"no process with pid {self.pid}")
        return [f"-DTARGET_TGID={self.pid}"]

    def target_exited(self) -> bool:
        """True once the process is gone; the engine then detaches this probe."""
        assert self.pid is not None
        if Path(f"/proc/{self.pid}").exists():
            return False
        self.done_reason = f"process {self.pid} exited"
        return True
