"""The drilldown's model: one process's syscalls and probed functions, from the
per-pid probes' interval records, totalled since the drilldown opened.

Records for another pid (a previous drilldown's last interval) are ignored. A
process that exits keeps its last numbers, marked exited.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bpftop.core.histogram import Bucket, percentile_bound
from bpftop.core.records import ProbeStatus, SyscallsRecord, UprobeRecord
from bpftop.model.probe_state import ProbeState


@dataclass(frozen=True)
class SyscallView:
    syscall: str
    calls: int  # since the drilldown opened
    per_second: float  # in the last interval
    errors: dict[str, int]  # since opened
    total_us: float
    avg_us: float


@dataclass(frozen=True)
class FunctionView:
    target: str
    symbol: str
    calls: int
    per_second: float
    # Since opened, like `hist`, as the upper edge of the bucket they fall in: the
    # numbers beside the histogram are bounds it shows (percentile_bound says why).
    p50_us: float | None
    p99_us: float | None
    hist: tuple[Bucket, ...]  # since opened: (low_us, high_us, count)
    cost_pct: float | None = None  # what the probe cost the process, last interval


@dataclass(frozen=True)
class DrilldownSnapshot:
    pid: int
    syscalls: tuple[SyscallView, ...]  # most time first
    functions: tuple[FunctionView, ...]
    probes: dict[str, ProbeState]
    exited: bool


@dataclass
class _Syscall:
    calls: int = 0
    per_second: float = 0.0
    errors: dict[str, int] = field(default_factory=dict)
    total_us: float = 0.0


@dataclass
class _Function:
    target: str
    symbol: str
    calls: int = 0
    per_second: float = 0.0
    hist: dict[tuple[float, float], int] = field(default_factory=dict)
    cost_pct: float | None = None


class DrilldownModel:
    def __init__(self, pid: int) -> None:
        self.pid = pid
        self._syscalls: dict[str, _Syscall] = {}
        self._functions: dict[tuple[str, str], _Function] = {}
        self._probes: dict[str, ProbeState] = {}
        self._exited = False

    def add_syscalls(self, record: SyscallsRecord) -> None:
        if record.pid != self.pid:
            return
        self._exited |= record.exited
        for s in self._syscalls.values():
            s.per_second = 0.0
        for row in record.rows:
            s = self._syscalls.setdefault(row.syscall, _Syscall())
            s.calls += row.calls
            s.per_second = row.calls / record.interval_s if record.interval_s else 0.0
            s.total_us += row.total_us
            for name, n in row.errors.items():
                s.errors[name] = s.errors.get(name, 0) + n

    def add_uprobe(self, record: UprobeRecord) -> None:
        if record.pid != self.pid:
            return
        self._exited |= record.exited
        f = self._functions.setdefault(
            (record.target, record.symbol), _Function(record.target, record.symbol)
        )
        f.calls += record.calls
        f.per_second = record.calls / record.interval_s if record.interval_s else 0.0
        f.cost_pct = record.cost_pct
        for low, high, n in record.hist:
            f.hist[(low, high)] = f.hist.get((low, high), 0) + n

    def add_status(self, record: ProbeStatus) -> None:
        state = self._probes.get(record.probe, ProbeState(record.probe))
        self._probes[record.probe] = state.with_status(record)
        if record.reason and record.reason.endswith("exited") and record.state == "detached":
            self._exited = True

    def forget_functions(self) -> None:
        """All uprobes were detached: their rows go."""
        self._functions = {}

    def snapshot(self) -> DrilldownSnapshot:
        syscalls = sorted(
            (
                SyscallView(
                    name, s.calls, s.per_second, dict(s.errors), round(s.total_us, 1),
                    round(s.total_us / s.calls, 2) if s.calls else 0.0,
                )
                for name, s in self._syscalls.items()
            ),
            key=lambda v: (-v.total_us, v.syscall),
        )  # fmt: skip
        functions = []
        for f in self._functions.values():
            hist = tuple((low, high, n) for (low, high), n in sorted(f.hist.items()))
            functions.append(FunctionView(
                f.target, f.symbol, f.calls, f.per_second, percentile_bound(hist, 0.50),
                percentile_bound(hist, 0.99), hist, f.cost_pct,
            ))  # fmt: skip
        return DrilldownSnapshot(
            self.pid, tuple(syscalls), tuple(functions), dict(self._probes), self._exited
        )
