"""The sink the real-kernel tests give an engine."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from tests.helpers.timing import wait_until


class Collector:
    """A thread-safe sink that keeps every record an engine emits."""

    def __init__(self) -> None:
        self.records: list[Any] = []
        self._lock = threading.Lock()

    def __call__(self, record: Any) -> None:
        with self._lock:
            self.records.append(record)

    def of_type(self, cls: type) -> list[Any]:
        with self._lock:
            return [r for r in self.records if isinstance(r, cls)]

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
        return wait_until(predicate, timeout)

    def settle(self, probe: str, intervals: int = 2) -> None:
        """Wait for `intervals` more counts of `probe`: everything before them is in
        (events and counts of the intervals that were open)."""
        seen = self._counts_of(probe)
        assert self.wait_for(lambda: self._counts_of(probe) >= seen + intervals), probe

    def _counts_of(self, probe: str) -> int:
        with self._lock:
            return sum(1 for r in self.records
                       if type(r).__name__ == "ProbeCounts" and r.probe == probe)  # fmt: skip
