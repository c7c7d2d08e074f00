"""Connection pane model: recent connections, exact totals per outcome, rates."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import ClassVar

from bpftop.core.format import latency_us
from bpftop.core.records import ConnectRecord, ProbeCounts
from bpftop.model.groups import Group, Groups
from bpftop.model.pane_model import GROUPS_KEPT, PidEvent
from bpftop.model.rates import IntervalRate, RateSnapshot

FAILURE_COUNTERS = ("out_refused", "out_timeout", "out_aborted", "out_error", "resets")
# direction, address, port, family, outcome (the result, or an error's errno). The
# address is the peer's for outbound connections, and for inbound ones the local
# service's (a client's port is random).
FailureKey = tuple[str, str, int, int, str]


def failure_key(r: ConnectRecord) -> FailureKey:
    if r.direction == "out":
        return (r.direction, r.daddr, r.dport, r.family, r.outcome)
    return (r.direction, r.saddr, r.sport, r.family, r.outcome)


@dataclass(frozen=True)
class ConnectSnapshot:
    rows: tuple[ConnectRecord, ...]  # newest last
    outbound: RateSnapshot  # connects that got established
    inbound: RateSnapshot
    failed: RateSnapshot  # refused + timed out + aborted + failed at once + reset
    failures: tuple[Group[FailureKey, ConnectRecord], ...] = ()  # busiest first

    def pid_events(self, pid: int) -> list[PidEvent]:
        """Its connections; inbound ones are its when it owns the socket that listened
        (bpf/connect.c)."""
        out = []
        for c in self.rows:
            if c.pid != pid:
                continue
            if c.listener:
                detail = f"in {c.daddr}:{c.dport} → its listener {c.saddr}:{c.sport} {c.outcome}"
            else:
                detail = (f"{c.direction} {c.daddr}:{c.dport} {c.outcome} "
                          f"{latency_us(c.latency_us)}")  # fmt: skip
            out.append(PidEvent(c.ts, "tcp", detail))
        return out

    def trimmed(self, keep: int) -> ConnectSnapshot:
        return replace(self, rows=self.rows[-keep:], failures=self.failures[:GROUPS_KEPT])


class ConnectModel:
    records: ClassVar[tuple[type, ...]] = (ConnectRecord,)

    def __init__(self, keep: int = 500) -> None:
        self._rows: deque[ConnectRecord] = deque(maxlen=keep)
        self._out = IntervalRate()
        self._in = IntervalRate()
        self._failed = IntervalRate()
        self._failures: Groups[FailureKey, ConnectRecord] = Groups()

    def apply(self, record: ConnectRecord) -> None:
        self._rows.append(record)
        if record.result != "established":
            self._failures.add(failure_key(record), record)

    def retain(self, keep: Callable[[ConnectRecord], bool]) -> None:
        """Drop the rows a new filter excludes."""
        self._rows = deque(filter(keep, self._rows), maxlen=self._rows.maxlen)
        self._failures.clear()

    def add_counts(self, counts: ProbeCounts) -> None:
        c = counts.counts
        self._out.add(c.get("out_established", 0), counts.interval_s)
        self._in.add(c.get("in_established", 0), counts.interval_s)
        self._failed.add(sum(c.get(key, 0) for key in FAILURE_COUNTERS), counts.interval_s)
        self._failures.close_interval(counts.interval_s)

    def snapshot(self) -> ConnectSnapshot:
        return ConnectSnapshot(
            tuple(self._rows),
            self._out.snapshot(),
            self._in.snapshot(),
            self._failed.snapshot(),
            self._failures.snapshot(),
        )
