"""Running totals read from the kernel, turned into how much each grew since the last
read: the one step every probe (and the engine's per-probe counters) takes from a map
of totals to an interval's deltas, with one reset rule.

The rule: a key not seen before counts from zero (all of its total is new), and so
does a total that went down (the kernel dropped the key, or the map, and made it
again). Where a total existed before bpftop looked (an interface's driver counters),
the caller reads a `baseline` first.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import Any, Generic, TypeVar

Totals = dict[Any, tuple[int, ...]]  # a map's totals read into Python, several per key
Key = TypeVar("Key", bound=Hashable)
Total = TypeVar("Total", int, tuple[int, ...])


def grew(now: Total, before: Total | None) -> Total:
    """How much one total grew (the reset rule above)."""
    if isinstance(now, int):
        assert not isinstance(before, tuple)
        return now if before is None or now < before else now - before
    assert not isinstance(before, int)
    if before is None or any(n < b for n, b in zip(now, before, strict=True)):
        return now
    return tuple(n - b for n, b in zip(now, before, strict=True))


def _moved(delta: int | tuple[int, ...]) -> bool:
    return delta != 0 if isinstance(delta, int) else any(delta)


class RunningTotals(Generic[Key, Total]):
    """The last read of a map of totals, and the deltas of the next one."""

    def __init__(self) -> None:
        self.last: dict[Key, Total] = {}

    def baseline(self, current: Mapping[Key, Total]) -> None:
        """What these keys hold now is their zero: it grew before bpftop looked (or
        before what is counted now was attached)."""
        self.last.update(current)

    def deltas(self, current: Mapping[Key, Total]) -> dict[Key, Total]:
        """Every key of `current` with its growth (zero included), and `current` becomes
        the last read (keys gone from it are forgotten)."""
        out = {key: grew(now, self.last.get(key)) for key, now in current.items()}
        self.last = dict(current)
        return out

    def growth(self, current: Mapping[Key, Total]) -> dict[Key, Total]:
        """The keys that grew, with their growth."""
        return {k: v for k, v in self.deltas(current).items() if _moved(v)}

    def forget(self, key: Key) -> None:
        """A key the caller deleted from the map: if it comes back, it counts from zero."""
        self.last.pop(key, None)

    def clear(self) -> None:
        self.last = {}


def deltas_of(
    store: dict[Any, RunningTotals[Key, Total]],
    owner: Hashable,
    current: Mapping[Key, Total],
    *,
    counted_before: bool,
) -> dict[Key, Total]:
    """The deltas of one owner's totals (an interface's, a program's), each owner with
    its own last read. `counted_before`: totals that ran before bpftop first looked (a
    driver's counters), whose first read is their zero, not news."""
    totals = store.get(owner)
    if totals is None:
        totals = store[owner] = RunningTotals()
        if counted_before:
            totals.baseline(current)
    return totals.deltas(current)
