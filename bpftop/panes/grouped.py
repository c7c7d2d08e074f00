"""An event pane that leads with its failure groups: a small table of what keeps
failing (count, rate, what, who last) above the recent events, so a storm of
successes cannot push the failures off the screen."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.widgets import DataTable

from bpftop.core.format import rate
from bpftop.model.dashboard import DashboardSnapshot
from bpftop.panes.base import Pane
from bpftop.panes.palette import Palette
from bpftop.panes.shown import RowTable

MAX_GROUPS = 50
BOTH_FROM = 8  # content lines from which the events always show below the groups
EVENTS_MIN = 2  # a column header and a row
HOT_RATE = 100  # per second: a group this busy is marked as a flood

GroupRow = tuple[tuple[str | Text, ...], int | None]  # a group's cells, the pid it last named


class GroupedPane(Pane):
    DEFAULT_CSS = """
    GroupedPane .events { height: 1fr; }
    """
    group_columns: ClassVar[tuple[str, ...]]

    def compose(self) -> ComposeResult:
        groups = RowTable(classes="groups", cursor_type="row")
        groups.add_columns(*self.group_columns)
        groups.display = False
        yield groups
        events = RowTable(classes="events", cursor_type="row")
        events.add_columns(*self.columns)
        yield events

    @property
    def groups(self) -> RowTable:
        return self.child(".groups", RowTable)

    @property
    def table(self) -> RowTable:
        return self.child(".events", RowTable)

    def group_rows(self, snapshot: DashboardSnapshot) -> list[GroupRow]:
        """Busiest first."""
        raise NotImplementedError

    def update_from(self, snapshot: DashboardSnapshot) -> None:
        super().update_from(snapshot)
        shown = self.group_rows(snapshot)[:MAX_GROUPS]
        self._group_pids = [pid for _cells, pid in shown]
        self.groups.show_rows([cells for cells, _pid in shown])
        self._fit()

    def on_resize(self) -> None:
        self._fit()
        super().on_resize()

    def _fit(self) -> None:
        """Groups first, then the events in what is left (needs EVENTS_MIN lines). Where
        the groups leave too little, they get half the pane from BOTH_FROM lines, and
        the whole pane below that (80x24 with every pane open): flood-proof."""
        lines = self.size.height
        wanted = 1 + self.groups.row_count if self.groups.row_count else 0
        if not wanted or wanted + EVENTS_MIN <= lines:
            height = wanted
        else:
            height = lines // 2 if lines >= BOTH_FROM else lines
        if getattr(self, "_groups_height", None) != (height, lines):
            self._groups_height = (height, lines)
            self.groups.display = height > 0
            self.groups.styles.height = height
            # A collapsed pane (no lines) keeps its tables: Tab must still reach it.
            self.table.display = height < lines or lines == 0

    def wanted_lines(self) -> int:
        """The groups, then the events below them (see _fit for when both fit)."""
        groups = self.groups.row_count
        events = self.rows_available
        if not groups:
            return 1 + events if events else 0
        return 1 + groups + (1 + events if events else 0)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if event.data_table is not self.groups:
            super().on_data_table_row_selected(event)
            return
        pids = getattr(self, "_group_pids", [])
        pid = pids[event.cursor_row] if event.cursor_row < len(pids) else None
        if pid is None:
            self.notify("no process known for this row", timeout=2)
        else:
            self.post_message(self.PidPicked(pid))


def count_cells(total: int, per_second: float, palette: Palette) -> tuple[str, Text]:
    """COUNT and RATE of a group: the rate marked when it floods, dim when quiet now."""
    if not per_second:
        return str(total), Text("-", style="dim")
    return str(total), Text(rate(per_second), style=palette.worst if per_second >= HOT_RATE else "")
