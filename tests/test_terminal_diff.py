"""Sending only the changed cells loses nothing: every screen update of a session
(refreshes, focus, zoom, the help screen, a filter prompt) is played into two
terminal emulators, one fed Textual's own output and one fed the cut-down changes;
after each update both show the same characters in the same colours. After a resize,
the cut-down terminal shows what the compositor would draw on a clean screen."""

from __future__ import annotations

from typing import cast

import pyte
from rich.color import ColorSystem
from rich.console import Console

from bpftop.panes.textual_seam import CompositorUpdate
from bpftop.screens.app import BpftopApp
from bpftop.screens.terminal_diff import TerminalCopy
from tests.helpers.apps import recorded_app

WIDTH, HEIGHT = 100, 30


class TwoTerminals:
    def __init__(self) -> None:
        self.whole: pyte.Screen | None = pyte.Screen(WIDTH, HEIGHT)
        self.changes = pyte.Screen(WIDTH, HEIGHT)
        self._whole_stream = pyte.Stream(self.whole)
        self._changes_stream = pyte.Stream(self.changes)
        self.copy = TerminalCopy()
        self.console = Console(color_system="256", width=WIDTH, height=HEIGHT)
        self.bytes_whole = 0
        self.bytes_changes = 0
        self.updates = 0

    def feed(self, update: CompositorUpdate, size: tuple[int, int]) -> None:
        if size != (self.changes.columns, self.changes.lines):
            # A resize: what a terminal keeps of its screen varies (and updates drawn for
            # the old size may still arrive), so only the end result is compared.
            self.changes.resize(size[1], size[0])
            self.whole = None
        whole = update.render_segments(self.console)
        cut = self.copy.changes(update, size, ColorSystem.EIGHT_BIT)
        changes = cut.render_segments(self.console) if cut is not None else ""
        self._changes_stream.feed(changes)
        self.updates += 1
        if self.whole is not None:
            self._whole_stream.feed(whole)
            self.bytes_whole += len(whole.encode())
            self.bytes_changes += len(changes.encode())
            assert screen_of(self.changes) == screen_of(self.whole), f"update {self.updates}"

    def drawn_on_a_clean_screen(self, app: BpftopApp) -> pyte.Screen:
        """The compositor's whole screen, drawn on a fresh terminal."""
        clean = pyte.Screen(app.size.width, app.size.height)
        full = cast(CompositorUpdate, app.screen._compositor.render_update(full=True))
        pyte.Stream(clean).feed(full.render_segments(self.console))
        return clean


def screen_of(screen: pyte.Screen) -> list[list[tuple[str, str, str, bool, bool]]]:
    return [
        [
            (c.data, c.fg, c.bg, c.bold, c.reverse)
            for c in (screen.buffer[y][x] for x in range(screen.columns))
        ]
        for y in range(screen.lines)
    ]


async def test_the_changes_draw_exactly_what_the_whole_updates_draw(monkeypatch) -> None:
    terminals = TwoTerminals()
    app = recorded_app()

    def display(self: BpftopApp, screen: object, renderable: object) -> None:
        if isinstance(renderable, CompositorUpdate):
            terminals.feed(renderable, (self.size.width, self.size.height))

    monkeypatch.setattr(BpftopApp, "_display", display)
    async with app.run_test(size=(WIDTH, HEIGHT)) as pilot:
        await pilot.pause(0.1)
        for _ in range(3):
            app.render_snapshot()
            await pilot.pause(0.05)
        for key in ("tab", "tab", "z", "down", "down", "z", "question_mark", "escape",
                    "slash", "c", "o", "m", "m", "escape", "s", "s", "r"):  # fmt: skip
            await pilot.press(key)
            await pilot.pause(0.05)
            app.render_snapshot()
        assert terminals.updates > 20
        await pilot.resize_terminal(80, 24)
        await pilot.pause(0.1)
        app.render_snapshot()
        await pilot.pause(0.1)
        clean = terminals.drawn_on_a_clean_screen(app)
        assert screen_of(terminals.changes) == screen_of(clean)
    # And it is worth it: most of what Textual repaints was already on the terminal.
    assert terminals.bytes_changes < terminals.bytes_whole / 2


def test_a_style_change_sends_only_what_differs_unless_something_goes_off() -> None:
    from bpftop.screens.terminal_diff import sgr_change

    assert sgr_change(None, "38;5;251;48;5;233") == "\x1b[0;38;5;251;48;5;233m"  # unknown
    assert sgr_change("38;5;251;48;5;233", "38;5;251;48;5;235") == "\x1b[48;5;235m"
    assert sgr_change("38;5;251;48;5;233", "1;7;38;5;253;48;5;233") == "\x1b[1;7;38;5;253m"
    assert sgr_change("1;38;5;16", "38;5;16") == "\x1b[0;38;5;16m"  # bold goes off: reset
    assert sgr_change("38;5;251;48;5;233", "38;5;251") == "\x1b[49m"  # default background
    assert sgr_change("38;5;251", "") == "\x1b[0m"
    assert sgr_change("31;1", "1;38;5;2") == "\x1b[0;1;38;5;2m"  # not understood: whole
