"""The colours that carry meaning in the panes (fine, slow, failed, on fire), from
the active theme, so a light terminal or NO_COLOR still reads right.

A theme file may set each as a Rich style in its [variables] (`bpftop-good`, ...);
otherwise they follow its success, warning and error colours."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from rich.style import Style
from textual.theme import Theme
from textual.widget import Widget


@dataclass(frozen=True)
class Palette:
    good: str  # ok, fast
    warn: str  # slowish, timed out
    bad: str  # failed, slow
    worst: str  # very slow, drops, a flood

    @classmethod
    def of(cls, theme: Theme, no_color: bool = False) -> Palette:
        """`no_color` (NO_COLOR is set): the attributes alone. Textual shows colours
        as greys then, and a red on black is a grey on black: unreadable."""
        v = theme.variables
        palette = cls(
            good=v.get("bpftop-good", theme.success or ""),
            warn=v.get("bpftop-warn", theme.warning or ""),
            bad=v.get("bpftop-bad", f"bold {theme.error or ''}"),
            worst=v.get("bpftop-worst", f"bold reverse {theme.error or ''}"),
        )
        if not no_color:
            return palette
        plain = {name: str(Style.parse(style).without_color) if style else ""
                 for name, style in dataclasses.asdict(palette).items()}  # fmt: skip
        return cls(**{name: "" if style == "none" else style for name, style in plain.items()})

    def latency(self, us: float | None) -> str:
        """Storage latency bands: under 1 ms is healthy for anything but a spinning disk."""
        if us is None:
            return ""
        if us < 1_000:
            return self.good
        if us < 10_000:
            return self.warn
        return self.bad if us < 100_000 else self.worst


def palette_of(widget: Widget) -> Palette:
    return Palette.of(widget.app.current_theme, no_color=widget.app.no_color)
