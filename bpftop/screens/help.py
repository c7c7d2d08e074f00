"""Help screen: every key the app answers to, taken from the live bindings."""

from __future__ import annotations

from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

NOTES = (
    "Pane titles: rate, lost events, kernel time of the probe's BPF programs.",
    "Pane subtitles: how the probe is attached and why other ways were skipped.",
    "Connections without a PID finished in softirq: no task can be named.",
    "Denials, silent caps: refused capability checks that made no syscall fail (the "
    "kernel asked, was told no, and took another way): counted, not denials.",
    "CPU: 100% is one CPU; a row '(N exited)' is N processes of that comm that lived "
    "and died between two refreshes. RUNQ P99: how long its threads waited for a CPU.",
)


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
        # Text and a grid, never markup: keys such as "[" would open a markup tag.
        keys = Table.grid(padding=(0, 1))
        keys.add_column(style="bold", no_wrap=True)
        keys.add_column()
        for key, text in self._keys:
            keys.add_row(key, text)
        with VerticalScroll():
            yield Static(Text("bpftop keys\n", style="bold"))
            yield Static(keys)
            yield Static(Text("\n" + "\n".join(NOTES)))

    async def action_dismiss(self, result: None = None) -> None:
        self.dismiss(result)
