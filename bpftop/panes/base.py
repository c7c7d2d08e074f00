"""The shared shape of a data pane: a bordered table whose title carries the
probe's rate, loss and cost, and whose subtitle says how the probe is attached."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Vertical
from textual.message import Message
from textual.widget import Widget
from textual.widgets import DataTable

from bpftop.core.commands import Settings
from bpftop.model.dashboard import DashboardSnapshot
from bpftop.model.probe_state import ProbeState
from bpftop.panes.keys import bindings
from bpftop.panes.palette import Palette, palette_of
from bpftop.panes.shown import RowTable, set_titles

W = TypeVar("W", bound=Widget)
MAX_ROWS = 100  # newest rows a pane can show (zoomed, or scrolled); the model keeps 500
# Rows past the pane's height that are filled anyway, so the cursor can move on
# before the next refresh brings more. Every row filled is measured and rendered at
# each refresh, whether it is on screen or not: filling 100 rows for a pane that shows
# 8 was ~6 points of the TUI's 21% of a CPU under the soak storm (bench/uptime.py).
ROWS_AHEAD = 4


class Pane(Vertical, can_focus=False):
    ALLOW_MAXIMIZE = True
    DEFAULT_CSS = """
    Pane {
        border: round $secondary;
        border-title-color: $text;
        border-title-style: bold;
        border-subtitle-color: $text-muted;
        height: 1fr;
        padding: 0;
    }
    /* Focus: the accent border, and the title reversed (visible without colour too). */
    Pane:focus-within { border: round $accent; border-title-style: bold reverse; }
    Pane.-off { border: round $panel; }
    /* Nothing to show, or no room: the title line alone, which still carries the rates. */
    Pane.-collapsed { border: none; border-top: round $secondary; }
    Pane.-collapsed.-off { border-top: round $panel; }
    Pane.-collapsed:focus-within { border-top: round $accent; }
    /* Top-style: long cells are cut at the edge; a scrollbar row costs too much at 24 lines. */
    Pane DataTable { height: 1fr; scrollbar-size-vertical: 1; scrollbar-size-horizontal: 0; }
    """
    BINDINGS: ClassVar[list[BindingType]] = bindings("pane")  # bpftop/panes/keys.py

    title_hint: ClassVar[str] = ""  # keys of the pane's own, after the cost
    columns: ClassVar[tuple[str, ...]]
    default_sort: ClassVar[str | None] = None  # None: newest first

    class PidPicked(Message):
        """Enter on a row that names a process: open its drilldown."""

        def __init__(self, pid: int) -> None:
            super().__init__()
            self.pid = pid

    def __init__(self, probe: str, title: str, toggle_key: str, **kwargs: Any) -> None:
        """From the pane's descriptor (bpftop/catalog.py): its probe's name (the snapshot
        view it renders), its title ("Execs") and the key that toggles it ("1")."""
        super().__init__(id=f"pane-{probe}", **kwargs)
        self.probe = probe
        self.pane_name = title
        self.toggle_key = toggle_key
        self.sort_column: str | None = self.default_sort
        self.sort_reverse = True
        self._last: DashboardSnapshot | None = None
        self._row_pids: list[int | None] = []  # the pid of each shown row, in table order
        self.rows_available = 0  # rows the pane could show, of which the table holds a screenful
        self._marked: tuple[str | None, bool] | None = None  # the sort the header shows
        # The user's settings, as the screen last read them from their owner (the
        # record source) for this render; a pane shows them, never changes them.
        self.settings = Settings()
        self._children: dict[str | type[Widget], Widget] = {}  # child()'s finds

    @property
    def palette(self) -> Palette:
        return palette_of(self)

    def compose(self) -> ComposeResult:
        table = RowTable(cursor_type="row", zebra_stripes=False)
        table.add_columns(*self.columns)
        yield table

    @property
    def table(self) -> RowTable:
        return self.child(None, RowTable)

    def child(self, selector: str | None, kind: type[W]) -> W:
        """query_one (the one `kind` child, or the one matching `selector`), remembered:
        a pane's widgets are composed once and stay, and a DOM query per table per
        refresh was a tenth of a refresh's own time."""
        key = selector or kind
        found = self._children.get(key)
        if found is None:
            found = self.query_one(selector, kind) if selector else self.query_one(kind)
            self._children[key] = found
        assert isinstance(found, kind)
        return found

    def update_from(self, snapshot: DashboardSnapshot) -> None:
        self._last = snapshot
        state = snapshot.probes.get(self.probe, ProbeState(self.probe, state="detached"))
        self.set_class(not state.attached, "-off")
        subtitle = state.describe_plan() if state.state != "detached" else "off"
        if hint := self.subtitle_hint(state):
            subtitle = f"{hint} · {subtitle}"  # first: the subtitle is cut at the edge
        set_titles(self, self.title_text(snapshot, state), subtitle)
        sorted_by = self.sort_column if self.sort_column in self.columns else None
        # Newest first: only the newest MAX_ROWS records can be shown, so only they are
        # made into rows (a storm keeps 500 in the model; each row is a dozen objects).
        rows = self.rows(snapshot, newest=None if sorted_by else MAX_ROWS)
        if sorted_by is not None:
            index = self.columns.index(sorted_by)
            rows.sort(key=lambda row: _sort_key(row.keys[index]), reverse=self.sort_reverse)
        else:
            rows.reverse()  # newest first
        self.rows_available = min(len(rows), MAX_ROWS)
        shown = rows[: self.rows_to_fill()]
        self._row_pids = [row.pid for row in shown]
        self._mark_sort()
        self.table.show_rows([row.cells for row in shown])

    def rows_to_fill(self) -> int:
        """A screenful of rows: the pane's height, or down to the cursor, and a few
        more (ROWS_AHEAD). A collapsed pane (its title line alone) fills only those few;
        when it gets rows, on_resize fills them. The layout sizes the pane by
        `rows_available` instead."""
        return min(MAX_ROWS, max(self.size.height, self.table.cursor_row + 1) + ROWS_AHEAD)

    def on_resize(self) -> None:
        """Taller (zoomed, or given rows back): fill what is now on screen at once."""
        if self._last is not None and self.table.row_count < min(self.rows_available,
                                                                 self.rows_to_fill()):  # fmt: skip
            self._rerender()

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        """The cursor near the last filled row: fill further down (up to MAX_ROWS)."""
        table = event.data_table
        if (table is self.table and self._last is not None
                and event.cursor_row + 1 >= table.row_count < self.rows_available):  # fmt: skip
            self._rerender()

    def _mark_sort(self) -> None:
        """An arrow on the sorted column's header (none: newest first)."""
        marked = (self.sort_column, self.sort_reverse)
        if self._marked == marked:
            return
        table = self.table
        for column, name in zip(table.ordered_columns, self.columns, strict=False):
            arrow = (" ▼" if self.sort_reverse else " ▲") if name == self.sort_column else ""
            column.label = Text(name + arrow)
            column.content_width = max(column.content_width, column.label.cell_len)
        table.forget_rows()  # the header is repainted with the rows
        self._marked = marked

    def subtitle_hint(self, state: ProbeState) -> str:
        """Hook: a key worth knowing about how the probe is attached ("" for none)."""
        return ""

    def alarming(self, snapshot: DashboardSnapshot) -> bool:
        """Hook: something is failing here now; such panes get rows before calm ones."""
        return False

    def wanted_lines(self) -> int:
        """Lines of content the pane would show (column header included); 0: nothing."""
        rows = self.rows_available
        return 1 + rows if rows else 0

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if event.data_table is not self.table or event.cursor_row >= len(self._row_pids):
            return
        pid = self._row_pids[event.cursor_row]
        if pid is None:
            self.notify("no process known for this row", timeout=2)
        else:
            self.post_message(self.PidPicked(pid))

    @property
    def label(self) -> str:
        return f"{self.pane_name} [{self.toggle_key}]"

    def title_text(self, snapshot: DashboardSnapshot, state: ProbeState) -> str:
        """`Execs [1] 42/s · ... · bpf 0.02%` while attached, else `Execs [1] off`."""
        if not state.attached:
            return f"{self.label} {self.state_suffix(state)}"
        hint = f" · {self.title_hint}" if self.title_hint else ""
        return f"{self.label} {self.live_title(snapshot)} · {self.state_suffix(state)}{hint}"

    def live_title(self, snapshot: DashboardSnapshot) -> str:
        """The pane's rates for its title while the probe is attached."""
        raise NotImplementedError

    def rows(self, snapshot: DashboardSnapshot, newest: int | None = None) -> list[Row]:
        """Oldest first; each row carries its cells and a sort key per column. `newest`:
        only that many of the newest are needed (a pane of events may stop there)."""
        raise NotImplementedError

    def state_suffix(self, state: ProbeState) -> str:
        """`lost 12 · bpf 0.02%`, or why the probe is not running."""
        if state.state == "detached":
            return "off"
        if state.state == "attaching":
            return "attaching…"
        if state.state == "unavailable":
            return "unavailable"
        parts = []
        if state.lost:
            parts.append(f"lost {state.lost}")
        parts.append(f"bpf {state.bpf_cpu_percent:.2f}%")
        return " · ".join(parts)

    def action_cycle_sort(self) -> None:
        order: tuple[str | None, ...] = (None, *self.columns)
        self.sort_column = order[(order.index(self.sort_column) + 1) % len(order)]
        self.notify(f"sorted by {self.sort_column or 'time (newest first)'}", timeout=1.5)
        self._rerender()

    def action_reverse_sort(self) -> None:
        self.sort_reverse = not self.sort_reverse
        self._rerender()

    def on_data_table_header_selected(self, event: DataTable.HeaderSelected) -> None:
        label = self.columns[event.column_index]
        if self.sort_column == label:
            self.sort_reverse = not self.sort_reverse
        self.sort_column = label
        self._rerender()

    def _rerender(self) -> None:
        if self._last is not None:
            self.update_from(self._last)


@dataclass(frozen=True)
class Row:
    cells: tuple[str | Text, ...]
    keys: tuple[Any, ...]  # same length as cells: raw values to sort by
    pid: int | None = None  # the process the row is about, for the drilldown


def _sort_key(value: Any) -> tuple[int, Any]:
    """Blanks (None) sort below everything; the column's own type otherwise."""
    return (0, 0) if value is None else (1, value)
