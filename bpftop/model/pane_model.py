"""What the dashboard asks of a pane's model: the records it takes, and a snapshot. A
pane's descriptor (bpftop/catalog.py) names its model class; the dashboard routes each
record to the model whose `records` hold its type, and knows nothing else of it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, NamedTuple, Protocol, Self

from bpftop.core.records import ProbeCounts


class PidEvent(NamedTuple):
    """A line of the drilldown's events view: what a pane holds about one process."""

    ts: float
    kind: str  # "exec", "tcp", ...
    detail: str
    when: str | None = None  # shown instead of the clock: a summary over a window ("5s")


class PaneSnapshot(Protocol):
    def trimmed(self, keep: int) -> Self:
        """This snapshot with its event lists cut to the newest `keep` rows (and any
        long history to what a pane draws), for the rewind history's frames."""
        ...

    def pid_events(self, pid: int) -> list[PidEvent]:
        """Its rows about process `pid`, for the drilldown (none: [])."""
        ...


class PaneModel(Protocol):
    records: ClassVar[tuple[type, ...]]  # the record types routed to apply()

    def apply(self, record: Any) -> None: ...

    def add_counts(self, counts: ProbeCounts) -> None:
        """The probe's interval counts (the rates come from them)."""
        ...

    def retain(self, keep: Callable[[Any], bool]) -> None:
        """Drop what a new filter excludes."""
        ...

    def snapshot(self) -> PaneSnapshot: ...


# What a rewind frame keeps beyond its rows (bpftop/model/history.py).
GROUPS_KEPT = 50  # failure groups per pane: as many as a pane shows
SPARK_KEPT = 32  # values per sparkline history: the widest a pane draws is 31
