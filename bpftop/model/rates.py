"""Rates from interval counts, with a bounded history for sparklines."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True)
class RateSnapshot:
    total: int
    per_second: float  # over the last complete interval
    history: tuple[float, ...]  # per-second rates, oldest first


class IntervalRate:
    """Sums interval deltas; the rate is the last interval's count over its length."""

    def __init__(self, history: int = 120) -> None:
        self.total = 0
        self._last_rate = 0.0
        self._history: deque[float] = deque(maxlen=history)

    def add(self, count: int, interval_s: float) -> None:
        self.total += count
        if interval_s > 0:
            self._last_rate = count / interval_s
            self._history.append(self._last_rate)

    def snapshot(self) -> RateSnapshot:
        return RateSnapshot(self.total, self._last_rate, tuple(self._history))
