"""A one-line question in a modal: the answer, or None when the user backs out.
A `check` that raises ValueError keeps the prompt open with the error shown."""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static


class PromptScreen(ModalScreen[str | None]):
    DEFAULT_CSS = """
    PromptScreen { align: center middle; }
    PromptScreen > Vertical {
        width: 70; max-width: 100%; height: auto;
        border: round $accent; background: $surface; padding: 0 1;
    }
    PromptScreen #prompt-error { color: $error; height: auto; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="cancel-prompt"),
    ]

    def __init__(self, question: str, check: Callable[[str], object], value: str = "") -> None:
        super().__init__()
        self._question = question
        self._check = check
        self._value = value

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Text(self._question))  # plain: a question may show [brackets]
            yield Input(value=self._value, id="prompt-input")
            yield Static("", id="prompt-error")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        try:
            self._check(event.value)
        except ValueError as exc:
            self.query_one("#prompt-error", Static).update(Text(str(exc)))  # echoes input
            return
        self.dismiss(event.value)

    def action_cancel(self) -> None:
        self.dismiss(None)
