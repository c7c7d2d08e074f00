"""Widgets that send nothing when nothing changed: every repaint of a widget is all of
its lines again over the link (over SSH, the bytes of a whole pane for one new title).
RowTable remembers the rows it shows; set_titles and show remember what they set."""

from __future__ import annotations

from typing import Any
from weakref import WeakKeyDictionary

from rich.text import Text
from textual.widget import Widget
from textual.widgets import Static

from bpftop.panes.textual_seam import QuickCellTable, free_render_caches

Cells = tuple[Any, ...]


class RowTable(QuickCellTable):
    """A DataTable that keeps the rows it shows, and is left alone when they come again."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._shown_rows: list[Cells] | None = None

    def show_rows(self, rows: list[Cells]) -> None:
        """Show `rows`, keeping the cursor on its line. (Updating changed cells in place
        measured no fewer bytes than a rebuild, and it fills DataTable's render caches.)"""
        if self._shown_rows == rows and self.row_count == len(rows):
            return
        cursor = self.cursor_row
        self.clear()
        # Text, not str: DataTable reads a str as Rich markup, so an argv like `grep [a-z]`
        # would lose its brackets (and parsing markup cost most of a refresh).
        self.add_rows([tuple(Text(c) if isinstance(c, str) else c for c in row) for row in rows])
        if rows and cursor > 0:
            self.move_cursor(row=min(cursor, len(rows) - 1), animate=False)
        self._shown_rows = list(rows)

    def clear(self, columns: bool = False) -> RowTable:
        """DataTable.clear, its render caches freed now, not left to a full collection."""
        free_render_caches(self)
        super().clear(columns)
        return self

    def forget_rows(self) -> None:
        """The next show_rows rebuilds the table (its column labels changed)."""
        self._shown_rows = None


# What set_titles and show last gave each widget (a widget that is gone is forgotten).
_SHOWN: WeakKeyDictionary[Widget, object] = WeakKeyDictionary()


def set_titles(widget: Widget, title: str, subtitle: str | None = None) -> None:
    """Border title and subtitle, assigned only when they change: every assignment
    repaints the whole widget."""
    if _SHOWN.get(widget) != (title, subtitle):
        widget.border_title = title
        if subtitle is not None:
            widget.border_subtitle = subtitle
        _SHOWN[widget] = (title, subtitle)


def show(static: Static, content: Text | str, *, layout: bool = True) -> None:
    """Static.update, skipped when the content is what is already shown. `layout=False`
    for a widget whose size its CSS fixes: no layout of the whole screen for it."""
    if _SHOWN.get(static) != content:
        static.update(content, layout=layout)
        _SHOWN[static] = content


def shown(widget: Widget) -> object:
    """What show or set_titles last gave `widget` (None: nothing yet)."""
    return _SHOWN.get(widget)
