"""XDP pane model: per interface, the latest state, rates and program, the XDP action
rates per source, and a drops-per-second history for the sparkline."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import ClassVar

from bpftop.core.records import ProbeCounts, XdpRecord
from bpftop.model.pane_model import SPARK_KEPT, PidEvent
from bpftop.model.silence import forget_silent

HISTORY = 120


@dataclass(frozen=True)
class IfaceView:
    last: XdpRecord  # state, pps and program from the newest record
    rates: dict[str, dict[str, float | None]] = field(hash=False)  # source -> action -> /s
    drop_history: tuple[float, ...]  # drops/s, oldest first
    rules: tuple[tuple[str, float], ...] = ()  # bpftop's own program: (rule, drops/s)

    @property
    def drops_per_second(self) -> float:
        return self.drop_history[-1] if self.drop_history else 0.0


@dataclass(frozen=True)
class XdpSnapshot:
    ifaces: tuple[IfaceView, ...]  # by name

    def pid_events(self, pid: int) -> list[PidEvent]:
        return []  # interfaces, not processes

    def trimmed(self, keep: int) -> XdpSnapshot:
        return replace(self, ifaces=tuple(replace(i, drop_history=i.drop_history[-SPARK_KEPT:])
                                          for i in self.ifaces))  # fmt: skip


class _Iface:
    def __init__(self, record: XdpRecord) -> None:
        self.last = record
        self.rates: dict[str, dict[str, float | None]] = {}
        self.drops: deque[float] = deque(maxlen=HISTORY)
        self._drops_ts = 0.0
        self.rules: tuple[tuple[str, float], ...] = ()

    def add(self, r: XdpRecord) -> None:
        self.last = r
        if r.source == "bpftop" and r.rules is not None and r.interval_s > 0:
            self.rules = tuple((x["rule"], x["drops"] / r.interval_s) for x in r.rules)
        if r.ts != self._drops_ts:  # the first record of a new interval: a new point
            self.drops.append(0.0)
            self._drops_ts = r.ts
            # Only this interval's sources: one that stopped (bpftop's fexit on a
            # program that left) must not show its last rates for ever.
            self.rates = {}
        if r.source is not None and r.actions is not None and r.interval_s > 0:
            self.rates[r.source] = {
                a: (n / r.interval_s if n is not None else None) for a, n in r.actions.items()
            }
        self.drops[-1] = self._drop_rate()

    def _drop_rate(self) -> float:
        """The driver's view when there is one (it sees every program's drops)."""
        for source in ("driver", "bpftop", "fexit", "tracepoint"):
            if source in self.rates:
                return self.rates[source].get("drop") or 0.0
        return 0.0


class XdpModel:
    records: ClassVar[tuple[type, ...]] = (XdpRecord,)

    def __init__(self) -> None:
        self._ifaces: dict[str, _Iface] = {}

    def add_counts(self, counts: ProbeCounts) -> None:
        return None  # the rates come with each interface's record

    def apply(self, record: XdpRecord) -> None:
        if record.ifname not in self._ifaces:
            self._ifaces[record.ifname] = _Iface(record)
        self._ifaces[record.ifname].add(record)
        forget_silent(self._ifaces, record.ts)  # an interface that went leaves the pane

    def retain(self, keep: Callable[[XdpRecord], bool]) -> None:
        """Drop the interfaces a new filter excludes."""
        self._ifaces = {name: i for name, i in self._ifaces.items() if keep(i.last)}

    def own_attached(self, ifname: str) -> bool:
        """bpftop's own program is on this interface (as of the last interval)."""
        iface = self._ifaces.get(ifname)
        return iface is not None and (iface.last.prog or {}).get("owner") == "bpftop"

    def snapshot(self) -> XdpSnapshot:
        return XdpSnapshot(
            tuple(
                IfaceView(i.last, {s: dict(a) for s, a in i.rates.items()}, tuple(i.drops), i.rules)
                for _, i in sorted(self._ifaces.items())
            )
        )
