"""Search a long list and pick one entry: a process to drill into, a function to probe."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option

MAX_SHOWN = 200  # matches listed; typing narrows the rest


def _rank(label: str, needle: str) -> int:
    """An exact name first, then names starting with the text (a label's name is
    what follows its last ':', as in libc.so.6:malloc)."""
    name = label.rsplit(":", 1)[-1].strip().lower()
    return 0 if name == needle else 1 if name.startswith(needle) else 2


class PickerScreen(ModalScreen[str | None]):
    DEFAULT_CSS = """
    PickerScreen { align: center middle; }
    PickerScreen > Vertical {
        width: 90; max-width: 100%; height: 80%;
        border: round $accent; background: $surface; padding: 0 1;
    }
    PickerScreen OptionList { height: 1fr; }
    PickerScreen #picker-count { color: $text-muted; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="cancel-picker"),
        Binding("down", "move(1)", "Down", show=False),
        Binding("up", "move(-1)", "Up", show=False),
        Binding("pagedown", "move(10)", "Page down", show=False),
        Binding("pageup", "move(-10)", "Page up", show=False),
    ]

    def __init__(self, title: str, entries: list[tuple[str, str]]) -> None:
        """`entries` are (value returned, label searched and shown)."""
        super().__init__()
        self._title = title
        self._entries = entries

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Text(self._title))
            yield Input(placeholder="type to search, Enter picks, Esc backs out", id="picker-input")
            yield OptionList(id="picker-options")
            yield Static("", id="picker-count")

    def on_mount(self) -> None:
        self._show("")

    def on_input_changed(self, event: Input.Changed) -> None:
        self._show(event.value)

    def _show(self, text: str) -> None:
        needle = text.strip().lower()
        matches = [(v, label) for v, label in self._entries if needle in label.lower()]
        matches.sort(key=lambda entry: _rank(entry[1], needle))  # stable: list order within
        options = self.query_one(OptionList)
        options.clear_options()
        options.add_options([Option(Text(label), id=value) for value, label in matches[:MAX_SHOWN]])
        if matches:
            options.highlighted = 0
        more = f", first {MAX_SHOWN} shown" if len(matches) > MAX_SHOWN else ""
        self.query_one("#picker-count", Static).update(
            f"{len(matches)} of {len(self._entries)}{more}"
        )

    def action_move(self, step: int) -> None:
        options = self.query_one(OptionList)
        if options.option_count:
            current = options.highlighted or 0
            options.highlighted = max(0, min(options.option_count - 1, current + step))

    def on_input_submitted(self, _event: Input.Submitted) -> None:
        options = self.query_one(OptionList)
        if options.highlighted is not None and options.option_count:
            self.dismiss(options.get_option_at_index(options.highlighted).id)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        self.dismiss(None)
