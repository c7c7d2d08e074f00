"""Every private name of Textual and Rich that bpftop relies on, in one module.

The terminal diff (terminal_diff.py) works on the compositor's updates before they
become escape sequences, which Textual does not offer publicly: it overrides
`App._display`, reads `textual._compositor`'s update classes, the console's colour
system and two cached fields of Rich's Style. Tables empty their render caches through
`free_render_caches`, which unlinks the entries of Textual's LRUCache. Nothing else
imports them.
tests/test_textual_seam.py checks each one against the installed Textual and Rich, so
an upgrade that moves one fails there, by name, instead of garbling a terminal.
"""

from __future__ import annotations

from typing import Any, TypeVar

from rich.color import ColorSystem
from rich.style import Style
from textual._compositor import ChopsUpdate, CompositorUpdate, LayoutUpdate
from textual.app import App
from textual.cache import LRUCache
from textual.screen import Screen
from textual.strip import Strip

__all__ = [
    "ChopsUpdate",
    "CompositorUpdate",
    "FilteredDisplay",
    "LayoutUpdate",
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
