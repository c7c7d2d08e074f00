"""Themes are data files in themes/, validated and turned into Textual themes at start."""

from __future__ import annotations

import tomllib
from pathlib import Path

from textual.theme import Theme

from bpftop.resources import themes_dir

DEFAULT_THEME = "bpftop-dark"


class ThemeError(ValueError):
    pass


def load_theme(path: Path) -> Theme:
    try:
        data = tomllib.loads(path.read_text())
        return Theme(**data)
    except (OSError, tomllib.TOMLDecodeError, TypeError) as exc:
        raise ThemeError(f"bad theme file {path.name}: {exc}") from exc


def load_themes() -> list[Theme]:
    return [load_theme(path) for path in sorted(themes_dir().glob("*.toml"))]
