"""The private Textual and Rich names bpftop uses (bpftop/screens/textual_seam.py) are
still there, with the shapes it relies on. An upgrade that moves one fails here, by
name, rather than garbling the terminal or silently sending every cell again."""

from __future__ import annotations

import inspect

from rich.color import ColorSystem
from rich.console import Console
from rich.style import Style
from textual import _compositor
from textual.app import App
from textual.strip import Strip

from bpftop.screens import textual_seam


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
