"""Rates from interval counts."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RateSnapshot:
    total: int
    per_second: float  # over the last complete interval


class IntervalRate:
    """Sums interval deltas; the rate is the last interval's count over its length."""

    def __init__(self) -> None:
        self.total = 0
        self._last_rate = 0.0

    def add(self, count: int, interval_s: float) -> None:
        self.total += count
        if interval_s > 0:
            self._last_rate = count / interval_s

    def snapshot(self) -> RateSnapshot:
        return RateSnapshot(self.total, self._last_rate)
