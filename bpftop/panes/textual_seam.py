"""Every private name of Textual and Rich that bpftop relies on, in one module.

The terminal diff (terminal_diff.py) works on the compositor's updates before they
become escape sequences, which Textual does not offer publicly: it overrides
`App._display`, reads `textual._compositor`'s update classes, the console's colour
system and two cached fields of Rich's Style. QuickCellTable renders DataTable's cells
through its own `_render_cell`. Tables empty their render caches through
`free_render_caches`, which unlinks the entries of Textual's LRUCache. Nothing else
imports them.
tests/test_textual_seam.py checks each one against the installed Textual and Rich, so
an upgrade that moves one fails there, by name, instead of garbling a terminal.
"""

from __future__ import annotations

from typing import Any, TypeVar

from rich.color import ColorSystem
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual._compositor import ChopsUpdate, CompositorUpdate, LayoutUpdate
from textual.app import App
from textual.cache import LRUCache
from textual.screen import Screen
from textual.strip import Strip
from textual.widgets import DataTable

__all__ = [
    "ChopsUpdate",
    "CompositorUpdate",
    "FilteredDisplay",
    "LayoutUpdate",
    "QuickCellTable",
    "free_render_caches",
    "style_sgr",
]

ReturnType = TypeVar("ReturnType")


def style_sgr(style: Style | None, color_system: ColorSystem) -> str | None:
    """The SGR codes a style draws with ("" for none); None for a style the diff does
    not model (a hyperlink)."""
    if style is None:
        return ""
    if style._link:
        return None
    return style._ansi or Strip.render_ansi(style, color_system)


class FilteredDisplay(App[ReturnType]):
    """An app whose screen updates pass through `filter_update` on their way to the
    terminal (Textual's write path, `App._display`, is private)."""

    def filter_update(
        self, update: CompositorUpdate, size: tuple[int, int], color_system: ColorSystem
    ) -> CompositorUpdate | None:
        """What to send instead of `update` (None: nothing)."""
        return update

    def _display(self, screen: Screen[Any], renderable: Any) -> None:
        if isinstance(renderable, CompositorUpdate) and not self.is_headless:
            size = (self.size.width, self.size.height)
            # As Strip.render does: no colour system known yet means true colour.
            colors = self.console._color_system or ColorSystem.TRUECOLOR
            renderable = self.filter_update(renderable, size, colors)
        super()._display(screen, renderable)


def free_render_caches(widget: object) -> None:
    """Empty every LRUCache a widget holds so that what they held is freed at once.

    Textual's LRUCache links its entries in a ring of lists, and its `clear()` drops the
    dict but leaves the ring: each cached row, cell and line of a DataTable became
    cyclic garbage that only a full collection frees, and bpftop runs those rarely
    (screens/app.py). Under a storm every pane's table is rebuilt each second, ~4,000
    such objects a second: they were most of what the collector walked and the RSS
    between two full collections. Unlinking the ring first lets reference counting free
    them as they are dropped."""
    for value in vars(widget).values():
        if isinstance(value, LRUCache):
            for entry in value._cache.values():
                entry.clear()  # [previous, next, key, value]: no ring left
            value.clear()


_NO_STYLE = Style.null()


class QuickCellTable(DataTable[Any]):
    """A DataTable that renders a one-line Text cell itself (DataTable._render_cell).

    DataTable renders every cell through Rich's whole pipeline (Styled, Padding, two
    render_lines, two crops), ~60 us a cell: under a storm every pane's rows are new
    each second, and that was most of the TUI's render time. A one-line Text cell
    needs only its segments, cropped or padded to the column and styled as Styled
    would; the same segments as Rich's (tests/test_textual_seam.py compares them), a
    fraction of the cost. Column labels too (rendered again at every change of the
    rows); row labels, multi-line rows and other renderables take DataTable's own path."""

    def _render_cell(
        self,
        row_index: int,
        column_index: int,
        base_style: Style,
        width: int,
        cursor: bool = False,
        hover: bool = False,
    ) -> list[list[Segment]]:
        header = row_index == -1
        if row_index < -1 or column_index < 0:  # a row label
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        row_key = self._header_row_key if header else self._row_locations.get_key(row_index)
        column_key = self._column_locations.get_key(column_index)
        row = self.rows.get(row_key) if row_key is not None and not header else None
        height = self.header_height if header else row.height if row is not None else 0
        cells = self._get_row_renderables(row_index).cells
        cell = cells[column_index] if column_index < len(cells) else None
        if row_key is None or column_key is None or height != 1 or not isinstance(cell, Text):
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        if "\n" in cell.plain or cell.justify not in (None, "default", "left"):
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        key = (row_key, column_key, base_style, cursor, hover, self._show_hover_cursor,
               self._update_count, self._pseudo_class_state)  # fmt: skip
        cache = self._cell_render_cache
        lines = cache.get(key)
        if lines is None:
            fixed = not header and (
                row_index < self.fixed_rows or column_index < self.fixed_columns
            )
            component, post = self._get_styles_to_render_cell(
                header, False, fixed,
                hover, cursor, self.show_cursor, self._show_hover_cursor,
                self.cursor_foreground_priority == "css", self.cursor_background_priority == "css",
            )  # fmt: skip
            pre = base_style + Style.from_meta({"row": row_index, "column": column_index})
            lines = [text_cell_line(self.app.console, cell, width, self.cell_padding,
                                    pre + component, post)]  # fmt: skip
            cache[key] = lines
        return lines


def text_cell_line(
    console: Any, text: Text, width: int, padding: int, pre: Style, post: Style
) -> list[Segment]:
    """One line of a Text cell `width` cells wide with `padding` spaces each side, as
    Rich renders Styled(Padding(text, (0, padding)), pre_style=pre, post_style=post)."""
    inner = max(0, width - 2 * padding)
    segments = list(text.render(console, end=""))
    if text.style:  # Rich adds it as the last span when it renders a Text whole
        base = console.get_style(text.style)
        segments = [Segment(t, s + base if s else base, c) for t, s, c in segments]
    line = Segment.adjust_line_length(segments, inner, _NO_STYLE)
    if padding:
        side = Segment(" " * padding, _NO_STYLE)
        line = Segment.adjust_line_length([side, *line, side], width, _NO_STYLE)
    return [Segment(t, pre + style + post if style else pre + post, control)
            for t, style, control in line if t]  # fmt: skip
