"""Failure groups for an event pane: one group per thing that keeps failing (an exec's
path and errno, a connection's peer and result), with its total, its rate over the
last interval and its newest record, so a storm of successes cannot hide them."""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
R = TypeVar("R")


@dataclass(frozen=True)
class Group(Generic[K, R]):
    key: K
    total: int
    per_second: float  # over the last interval
    last: R  # the newest record of the group (who, when)


class Groups(Generic[K, R]):
    """Counts records per key. Totals are exact as long as every record arrives (the
    pane's title says `lost N` when some did not); the rate is per interval."""

    def __init__(self, keep: int = 2000) -> None:
        self._totals: dict[K, int] = {}
        self._this_interval: dict[K, int] = {}
        self._rates: dict[K, float] = {}
        self._last: dict[K, R] = {}
        self._shown: dict[K, Group[K, R]] = {}  # the Group each key had in the last snapshot
        self._keep = keep

    def add(self, key: K, record: R) -> None:
        self._totals[key] = self._totals.get(key, 0) + 1
        self._this_interval[key] = self._this_interval.get(key, 0) + 1
        self._last[key] = record
        if len(self._totals) > self._keep:  # bounded: forget the smallest quiet group
            quiet = [k for k in self._totals if k not in self._this_interval] or list(self._totals)
            smallest = min(quiet, key=self._totals.__getitem__)
            for table in (self._totals, self._this_interval, self._rates):
                table.pop(smallest, None)
            self._last.pop(smallest, None)

    def close_interval(self, interval_s: float) -> None:
        """The probe's interval ended: what it counted becomes the groups' rates."""
        if interval_s > 0:
            self._rates = {k: n / interval_s for k, n in self._this_interval.items()}
        self._this_interval = {}

    def clear(self) -> None:
        """A new filter: counting starts over (only what passes it arrives now)."""
        self._totals, self._this_interval, self._rates, self._last = {}, {}, {}, {}
        self._shown = {}

    def snapshot(self) -> tuple[Group[K, R], ...]:
        """Busiest now first, then the largest totals. A group that did not change is
        the same object as in the last snapshot: the rewind history keeps a snapshot a
        second for minutes, and every new object in it is one more for the garbage
        collector to walk (its full passes were what grew the TUI's CPU with uptime)."""
        rates, last, before = self._rates, self._last, self._shown
        groups = []
        for k, n in self._totals.items():
            group = before.get(k)
            if (group is None or group.total != n or group.last is not last[k]
                    or group.per_second != rates.get(k, 0.0)):  # fmt: skip
                group = Group(k, n, rates.get(k, 0.0), last[k])
            groups.append(group)
        self._shown = {g.key: g for g in groups}
        groups.sort(key=lambda g: (-g.per_second, -g.total))
        return tuple(groups)
