"""What can be asked of the BPF engine, as typed commands, and the user's settings.

`BpfEngine.submit(command)` returns a Future that completes once the BPF thread has
applied the command (at once, before the engine starts): callers and tests wait on it
instead of sleeping. The record source owns the user's `Settings` (the command line's,
then the keys'); it gives them to each engine it starts (`Settings.commands()`) and
keeps them current (`Settings.after()`), and the UI reads them from there.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from bpftop.core.filters import Filter
from bpftop.core.uprobe_settings import BUDGET_PCT
from bpftop.core.xdp_rules import XdpRule


@dataclass(frozen=True)
class Enable:
    """Attach (`on`) or really detach a probe."""

    probe: str
    on: bool


@dataclass(frozen=True)
class SetFilter:
    """From now on only what the filter keeps: tested in the kernel where it can be."""

    filter: Filter


@dataclass(frozen=True)
class SetDiskSlow:
    """Disk I/Os at or above `ms` are sent one by one (0: none)."""

    ms: float


@dataclass(frozen=True)
class SetExecFailures:
    """Capture failed execs (their hooks cost every exec on the box)."""

    on: bool


@dataclass(frozen=True)
class SetUprobeBudget:
    """What the drilldown's uprobes may cost their process together, % of one CPU."""

    pct: float


@dataclass(frozen=True)
class SetTarget:
    """The process the per-pid probes (syscalls, uprobes) watch."""

    pid: int


@dataclass(frozen=True)
class XdpAttach:
    """bpftop's counting XDP program onto an interface."""

    ifname: str


@dataclass(frozen=True)
class XdpDetach:
    ifname: str


@dataclass(frozen=True)
class XdpAddRule:
    """A drop rule for bpftop's program on the rule's interface."""

    rule: XdpRule


@dataclass(frozen=True)
class XdpClearRules:
    ifname: str


@dataclass(frozen=True)
class UprobeAttach:
    """A uprobe (and uretprobe) on one function or USDT probe: "path:symbol"."""

    spec: str


@dataclass(frozen=True)
class UprobeDetach:
    spec: str


@dataclass(frozen=True)
class UprobeQueue:
    """Specs attached one per interval while their cost stays in the budget."""

    specs: tuple[str, ...]


@dataclass(frozen=True)
class UprobePython:
    """Python functions by name, through the interpreter's USDT probes."""


@dataclass(frozen=True)
class UprobeClear:
    """Detach every uprobe (the drilldown closes, or `x`)."""


Command = (
    Enable
    | SetFilter
    | SetDiskSlow
    | SetExecFailures
    | SetUprobeBudget
    | SetTarget
    | XdpAttach
    | XdpDetach
    | XdpAddRule
    | XdpClearRules
    | UprobeAttach
    | UprobeDetach
    | UprobeQueue
    | UprobePython
    | UprobeClear
)


@dataclass(frozen=True)
class Settings:
    """The user's settings: from the command line, changed by keys. One owner: the
    record source (screens/sources.py); the engine and the UI get them from it."""

    filter: Filter = field(default_factory=Filter)
    disk_slow_ms: float = 0.0
    exec_failures: bool = True
    uprobe_budget: float = BUDGET_PCT
    target_pid: int | None = None  # the per-pid probes' process (the drilldown's)

    def commands(self) -> list[Command]:
        """What gives a new engine these settings (before it starts: before anything
        attaches, so that nothing is counted the settings exclude)."""
        out: list[Command] = [SetFilter(self.filter), SetDiskSlow(self.disk_slow_ms),
                              SetExecFailures(self.exec_failures),
                              SetUprobeBudget(self.uprobe_budget)]  # fmt: skip
        if self.target_pid is not None:
            out.append(SetTarget(self.target_pid))
        return out

    def after(self, command: Command) -> Settings:
        """These settings once `command` is applied (the same for any other command)."""
        match command:
            case SetFilter():
                return replace(self, filter=command.filter)
            case SetDiskSlow():
                return replace(self, disk_slow_ms=command.ms)
            case SetExecFailures():
                return replace(self, exec_failures=command.on)
            case SetUprobeBudget():
                return replace(self, uprobe_budget=command.pct)
            case SetTarget():
                return replace(self, target_pid=command.pid)
        return self
