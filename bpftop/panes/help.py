"""Help screen: every key the app answers to, taken from the live bindings."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static


class HelpScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll {
        width: 64; max-width: 100%; height: auto; max-height: 90%;
        border: round $accent; background: $surface; padding: 0 1;
    }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,question_mark,f1", "dismiss", "Close", id="close-help"),
    ]

    def __init__(self, keys: list[tuple[str, str]]) -> None:
        super().__init__()
        self._keys = keys

    def compose(self) -> ComposeResult:
        lines = ["[b]bpftop keys[/b]", ""]
        lines += [f"  [b]{key:<12}[/b] {text}" for key, text in self._keys]
        lines += [
            "",
            "Pane titles: rate, lost events, kernel time of the probe's BPF programs.",
            "Pane subtitles: how the probe is attached and why other ways were skipped.",
            "Connections without a PID finished in softirq: no task can be named.",
        ]
        with VerticalScroll():
            yield Static("\n".join(lines))

    async def action_dismiss(self, result: None = None) -> None:
        self.dismiss(result)
