"""Exec pane model: recent execs, exact totals from kernel counters, rates."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import ClassVar

from bpftop.core.records import ExecRecord, ProbeCounts
from bpftop.model.groups import Group, Groups
from bpftop.model.pane_model import GROUPS_KEPT, PidEvent
from bpftop.model.rates import IntervalRate, RateSnapshot

FailureKey = tuple[str, str]  # the path that failed, errno name


@dataclass(frozen=True)
class ExecSnapshot:
    rows: tuple[ExecRecord, ...]  # newest last
    execs: RateSnapshot  # all exec attempts
    failed: RateSnapshot
    failures: tuple[Group[FailureKey, ExecRecord], ...] = ()  # busiest first

    def pid_events(self, pid: int) -> list[PidEvent]:
        """Its execs, and its children's."""
        out = []
        for e in self.rows:
            if pid in (e.pid, e.ppid):
                who = "" if e.pid == pid else f"child {e.pid} "
                detail = f"{who}{' '.join(e.argv) or e.filename} → {e.error or 'ok'}"
                out.append(PidEvent(e.ts, "exec", detail))
        return out

    def trimmed(self, keep: int) -> ExecSnapshot:
        return replace(self, rows=self.rows[-keep:], failures=self.failures[:GROUPS_KEPT])


class ExecModel:
    records: ClassVar[tuple[type, ...]] = (ExecRecord,)

    def __init__(self, keep: int = 500) -> None:
        self._rows: deque[ExecRecord] = deque(maxlen=keep)
        self._execs = IntervalRate()
        self._failed = IntervalRate()
        self._failures: Groups[FailureKey, ExecRecord] = Groups()

    def apply(self, record: ExecRecord) -> None:
        self._rows.append(record)
        if record.error:
            path = record.filename or (record.argv[0] if record.argv else "?")
            self._failures.add((path, record.error), record)

    def retain(self, keep: Callable[[ExecRecord], bool]) -> None:
        """Drop the rows a new filter excludes."""
        self._rows = deque(filter(keep, self._rows), maxlen=self._rows.maxlen)
        self._failures.clear()

    def add_counts(self, counts: ProbeCounts) -> None:
        ok = counts.counts.get("ok", 0)
        failed = counts.counts.get("failed", 0)
        self._execs.add(ok + failed, counts.interval_s)
        self._failed.add(failed, counts.interval_s)
        self._failures.close_interval(counts.interval_s)

    def snapshot(self) -> ExecSnapshot:
        return ExecSnapshot(
            tuple(self._rows),
            self._execs.snapshot(),
            self._failed.snapshot(),
            self._failures.snapshot(),
        )
