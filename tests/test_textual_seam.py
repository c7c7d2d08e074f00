"""The private Textual and Rich names bpftop uses (bpftop/panes/textual_seam.py) are
still there, with the shapes it relies on. An upgrade that moves one fails here, by
name, rather than garbling the terminal or silently sending every cell again."""

from __future__ import annotations

import gc
import inspect
from typing import Any

from rich.color import ColorSystem
from rich.console import Console
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import _compositor
from textual.app import App
from textual.cache import LRUCache
from textual.strip import Strip
from textual.widgets import DataTable

from bpftop.panes import textual_seam
from bpftop.panes.textual_seam import free_render_caches


def params(function: object) -> list[str]:
    return list(inspect.signature(function).parameters)  # type: ignore[arg-type]


def test_the_write_path_is_app_display_with_a_screen_and_a_renderable() -> None:
    assert params(App._display) == ["self", "screen", "renderable"]
    assert textual_seam.FilteredDisplay._display is not App._display  # the seam overrides it


def test_the_compositor_updates_carry_what_the_diff_reads() -> None:
    assert textual_seam.CompositorUpdate is _compositor.CompositorUpdate
    assert issubclass(_compositor.LayoutUpdate, _compositor.CompositorUpdate)
    assert issubclass(_compositor.ChopsUpdate, _compositor.CompositorUpdate)
    assert params(_compositor.LayoutUpdate.__init__)[1:] == ["strips", "region"]
    assert params(_compositor.ChopsUpdate.__init__)[1:] == ["chops", "spans", "chop_ends"]
    assert params(_compositor.CompositorUpdate.render_segments) == ["self", "console"]


def test_the_console_and_styles_keep_the_fields_the_diff_reads() -> None:
    assert Console(color_system="256")._color_system == ColorSystem.EIGHT_BIT
    assert Style(link="https://example.com")._link
    assert Style(bold=True)._ansi is None  # a cache, filled on first render
    sgr = textual_seam.style_sgr(Style(bold=True, color="red"), ColorSystem.EIGHT_BIT)
    assert sgr == Strip.render_ansi(Style(bold=True, color="red"), ColorSystem.EIGHT_BIT) == "1;31"
    assert textual_seam.style_sgr(Style(link="https://example.com"), ColorSystem.EIGHT_BIT) is None
    assert textual_seam.style_sgr(None, ColorSystem.EIGHT_BIT) == ""


def test_an_emptied_lru_cache_leaves_no_cyclic_garbage() -> None:
    """free_render_caches unlinks LRUCache's ring of entries (`_cache`: key -> [previous,
    next, key, value]); Textual's own clear() leaves the ring for a full collection."""

    class Holder:
        def __init__(self) -> None:
            self.cache: LRUCache[int, list[int]] = LRUCache(100)

    for empty, garbage in ((lambda h: h.cache.clear(), True), (free_render_caches, False)):
        holder = Holder()
        for i in range(50):
            holder.cache[i] = [i]
        assert all(isinstance(entry, list) and len(entry) == 4
                   for entry in holder.cache._cache.values())  # fmt: skip
        gc.collect()
        gc.disable()
        try:
            empty(holder)
            assert len(holder.cache) == 0
            assert (gc.collect() > 0) is garbage
        finally:
            gc.enable()


CELLS = [
    Text("plain ascii"),
    Text(""),
    Text("-", style="dim"),
    Text("refused", style="bold red"),
    Text.assemble(("ok ", "green"), ("then", "italic")),
    Text("a much longer cell cut at the edge"),
    Text("宽字符 wide"),
    Text("e\u0301 combining"),
    Text("trailing   "),
    Text("12.5", justify="right"),  # DataTable's own path
]


def test_datatable_keeps_the_cell_rendering_quick_cells_replace() -> None:
    assert params(DataTable._render_cell) == [
        "self", "row_index", "column_index", "base_style", "width", "cursor", "hover"
    ]  # fmt: skip
    assert params(DataTable._get_styles_to_render_cell)[1:4] == [
        "is_header_cell", "is_row_label_cell", "is_fixed_style_cell"
    ]  # fmt: skip


async def test_quick_cells_render_the_segments_rich_does() -> None:
    """QuickCellTable's own one-line Text cells, against DataTable's Rich pipeline: the
    same characters in the same styles (meta included), whatever the width, cursor or hover."""

    class Tables(App[None]):
        def compose(self) -> Any:
            yield DataTable(id="rich")
            yield textual_seam.QuickCellTable(id="quick")

    app = Tables()
    async with app.run_test(size=(100, 30)) as pilot:
        app.set_focus(None)  # a focused table draws its cursor in another colour
        await pilot.pause()
        rich_table, quick = app.query_one("#rich", DataTable), app.query_one("#quick", DataTable)
        for table in (rich_table, quick):
            table.add_columns("A", "B")
            table.add_rows([(cell, Text("x")) for cell in CELLS])
        base = Style(color="white", bgcolor="black")
        for row in range(-1, len(CELLS)):  # -1: the column labels
            for width in (1, 2, 3, 8, 40):
                for cursor, hover in ((False, False), (True, False), (False, True)):
                    args = (row, 0, base, width, cursor, hover)
                    for table in (rich_table, quick):  # its key leaves the width out
                        table._cell_render_cache.clear()
                    want = list(Segment.simplify(rich_table._render_cell(*args)[0]))
                    got = list(Segment.simplify(quick._render_cell(*args)[0]))
                    assert got == want, (row, width, cursor, hover)
