"""CPU pane model: the latest interval's busiest processes, and run-queue latency
(the latest box-wide histogram and a p99 history for the sparkline)."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

from bpftop.core.records import CpuRecord, ProbeCounts, RunqRecord
from bpftop.model.pane_model import PidEvent

HISTORY = 120


@dataclass(frozen=True)
class CpuSnapshot:
    rows: tuple[CpuRecord, ...]  # the latest interval's, busiest first
    runq: RunqRecord | None  # the latest interval's box-wide waits
    runq_p99_history: tuple[float | None, ...]  # oldest first
    # Of the whole box (100 = every CPU busy), from the same interval's samples: the
    # samples that did not find a CPU idle. The header shows it too, so the two agree
    # (the header's psutil figure had covered bpftop's own start-up: "cpu 100%" beside
    # "busy 0%"). None until the probe has counted an interval.
    box_busy_pct: float | None = None

    def pid_events(self, pid: int) -> list[PidEvent]:
        return []  # the drilldown's header has its CPU

    def trimmed(self, keep: int) -> CpuSnapshot:
        return self  # one interval's rows, as many as the pane shows


class CpuModel:
    records: ClassVar[tuple[type, ...]] = (CpuRecord, RunqRecord)

    def __init__(self) -> None:
        self._rows: list[CpuRecord] = []
        self._rows_ts = 0.0
        self._runq: RunqRecord | None = None
        self._p99: deque[float | None] = deque(maxlen=HISTORY)
        self._box_busy: float | None = None

    def apply(self, record: CpuRecord | RunqRecord) -> None:
        if isinstance(record, RunqRecord):
            self.add_runq(record)
        else:
            self.add(record)

    def add(self, record: CpuRecord) -> None:
        if record.ts != self._rows_ts:  # the first row of a new interval
            self._rows = []
            self._rows_ts = record.ts
        self._rows.append(record)

    def add_runq(self, record: RunqRecord) -> None:
        """Comes first in each interval: an interval without busy processes clears them."""
        self._runq = record
        self._p99.append(record.p99_us)
        if record.ts != self._rows_ts:
            self._rows = []
            self._rows_ts = record.ts

    def add_counts(self, counts: ProbeCounts) -> None:
        samples, idle = counts.counts.get("samples", 0), counts.counts.get("idle", 0)
        if samples:
            self._box_busy = round(100.0 * (samples - idle) / samples, 1)

    def retain(self, keep: Callable[[CpuRecord], bool]) -> None:
        self._rows = [row for row in self._rows if keep(row)]

    def snapshot(self) -> CpuSnapshot:
        rows = tuple(sorted(self._rows, key=lambda r: -r.cpu_pct))
        return CpuSnapshot(rows, self._runq, tuple(self._p99), self._box_busy)
