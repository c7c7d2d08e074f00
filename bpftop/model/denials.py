"""Denials pane model: recent denial events, and exact per-group totals and rates
(a group is one comm, uid, syscall and errno) from the kernel's counts."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import ClassVar

from bpftop.core.records import DenialGroupRecord, DenialRecord, ProbeCounts, SilentCapRecord
from bpftop.model.pane_model import GROUPS_KEPT, PidEvent
from bpftop.model.rates import IntervalRate, RateSnapshot

GroupKey = tuple[str, int, str, str]  # comm, uid, syscall, errno
SILENT_KEPT = 10  # silent-check rows in a snapshot: the busiest; the pane shows 3


@dataclass(frozen=True)
class DenialGroup:
    comm: str
    uid: int
    syscall: str
    errno: str
    total: int
    per_second: float  # over the last interval
    last: DenialRecord | None  # the newest event seen for this group (target, cause)


@dataclass(frozen=True)
class SilentCaps:
    """Refused capability checks that failed no syscall, of one comm, uid, syscall and
    capability (bpf/denials.c silent_caps)."""

    comm: str
    uid: int
    syscall: str
    cap: str
    total: int
    per_second: float  # over the last interval


SilentKey = tuple[str, int, str, str]  # comm, uid, syscall, cap


@dataclass(frozen=True)
class DenialSnapshot:
    rows: tuple[DenialRecord, ...]  # newest last
    groups: tuple[DenialGroup, ...]  # busiest first
    denials: RateSnapshot
    silent_cap_checks: int  # refused capability checks that failed no syscall
    sampled_out: int  # events not sent under a flood (their counts are in the groups)
    silent: tuple[SilentCaps, ...] = ()  # who made them, busiest first

    def pid_events(self, pid: int) -> list[PidEvent]:
        out = []
        for d in self.rows:
            if d.pid == pid:
                what = d.path or d.addr or ""
                detail = f"{d.syscall} {d.errno} {what} {d.detail or ''}".strip()
                out.append(PidEvent(d.ts, "denied", detail))
        return out

    def trimmed(self, keep: int) -> DenialSnapshot:
        return replace(self, rows=self.rows[-keep:], groups=self.groups[:GROUPS_KEPT])


def _key(r: DenialRecord | DenialGroupRecord | DenialGroup) -> GroupKey:
    return (r.comm, r.uid, r.syscall, r.errno)


class DenialModel:
    records: ClassVar[tuple[type, ...]] = (DenialRecord, DenialGroupRecord, SilentCapRecord)

    def __init__(self, keep: int = 500, keep_groups: int = 2000) -> None:
        self._rows: deque[DenialRecord] = deque(maxlen=keep)
        self._totals: dict[GroupKey, int] = {}
        self._rates: dict[GroupKey, float] = {}  # this interval's, reset each interval
        self._last: dict[GroupKey, DenialRecord] = {}
        self._shown: dict[GroupKey, DenialGroup] = {}  # as in the last snapshot (Groups)
        self._keep_groups = keep_groups
        self._denials = IntervalRate()
        self._silent = 0  # from the counters, for recordings without silent_cap records
        self._silent_totals: dict[SilentKey, int] = {}
        self._silent_sum: int | None = None  # of every silent_cap record (None: none seen)
        self._silent_rates: dict[SilentKey, float] = {}  # this interval's
        self._sampled_out = 0

    def apply(self, record: DenialRecord | DenialGroupRecord | SilentCapRecord) -> None:
        match record:
            case DenialRecord():
                self.add(record)
            case DenialGroupRecord():
                self.add_group(record)
            case SilentCapRecord():
                self.add_silent(record)

    def add(self, record: DenialRecord) -> None:
        self._rows.append(record)
        self._last[_key(record)] = record

    def retain(self, keep: Callable[[DenialRecord], bool]) -> None:
        """A new filter: drop the rows it excludes; group counts start over (the
        kernel counts only what passes from now on)."""
        self._rows = deque(filter(keep, self._rows), maxlen=self._rows.maxlen)
        self._totals, self._rates, self._last = {}, {}, {}
        self._silent_totals, self._silent_rates = {}, {}
        self._silent_sum = None

    def add_group(self, record: DenialGroupRecord) -> None:
        key = _key(record)
        self._totals[key] = self._totals.get(key, 0) + record.count
        if record.interval_s > 0:
            self._rates[key] = record.count / record.interval_s
        if len(self._totals) > self._keep_groups:  # bounded: drop the smallest quiet group
            quiet = [k for k in self._totals if k not in self._rates] or list(self._totals)
            smallest = min(quiet, key=lambda k: self._totals[k])
            self._totals.pop(smallest)
            self._last.pop(smallest, None)

    def add_silent(self, record: SilentCapRecord) -> None:
        key = (record.comm, record.uid, record.syscall, record.cap)
        self._silent_sum = (self._silent_sum or 0) + record.count
        self._silent_totals[key] = self._silent_totals.get(key, 0) + record.count
        if record.interval_s > 0:
            self._silent_rates[key] = record.count / record.interval_s
        if len(self._silent_totals) > self._keep_groups:  # bounded, as the groups
            quiet = [k for k in self._silent_totals if k not in self._silent_rates]
            smallest = min(quiet or self._silent_totals, key=self._silent_totals.__getitem__)
            self._silent_totals.pop(smallest)

    def add_counts(self, counts: ProbeCounts) -> None:
        """Arrives before the interval's group records: the rates start over."""
        c = counts.counts
        self._rates = {}
        self._silent_rates = {}
        self._denials.add(c.get("denials", 0), counts.interval_s)
        self._silent += c.get("cap_refused", 0) - c.get("cap_named", 0)
        self._sampled_out += c.get("sampled_out", 0)

    def snapshot(self) -> DenialSnapshot:
        groups = []
        for key, total in self._totals.items():
            rate, last = self._rates.get(key, 0.0), self._last.get(key)
            group = self._shown.get(key)  # unchanged: the same object (model.groups says why)
            if group is None or (group.total, group.per_second) != (total, rate) or \
                    group.last is not last:  # fmt: skip
                group = DenialGroup(*key, total, rate, last)
            groups.append(group)
        self._shown = {_key(g): g for g in groups}
        groups.sort(key=lambda g: (-g.per_second, -g.total))
        return DenialSnapshot(
            rows=tuple(self._rows),
            groups=tuple(groups),
            denials=self._denials.snapshot(),
            silent_cap_checks=self._silent_count(),
            sampled_out=self._sampled_out,
            silent=self._silent_snapshot(),
        )

    def _silent_count(self) -> int:
        """The sum of the silent_cap records (older recordings have none: the counters)."""
        return self._silent if self._silent_sum is None else self._silent_sum

    def _silent_snapshot(self) -> tuple[SilentCaps, ...]:
        rows = [SilentCaps(*key, total, self._silent_rates.get(key, 0.0))
                for key, total in self._silent_totals.items()]  # fmt: skip
        rows.sort(key=lambda s: (-s.per_second, -s.total))
        return tuple(rows[:SILENT_KEPT])
