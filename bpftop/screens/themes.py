"""Themes are data files in themes/, validated and turned into Textual themes at start.

NO_COLOR (https://no-color.org) picks the high-contrast theme, whose meaning rides on
bold and reverse as well as colour; Textual then also drops the colours."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

from textual.color import Color, ColorParseError
from textual.theme import Theme

from bpftop.core.resources import themes_dir

DEFAULT_THEME = "bpftop-dark"
NO_COLOR_THEME = "bpftop-high-contrast"
COLOURS = ("primary", "secondary", "accent", "foreground", "background", "surface", "panel",
           "success", "warning", "error")  # fmt: skip
REQUIRED = ("name", "dark", "primary")


class ThemeError(ValueError):
    pass


def load_theme(path: Path) -> Theme:
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ThemeError(f"bad theme file {path.name}: {exc}") from exc
    problem = _problem(data, path)
    if problem:
        raise ThemeError(f"bad theme file {path.name}: {problem}")
    return Theme(**data)


def _problem(data: dict[str, object], path: Path) -> str | None:
    for key in REQUIRED:
        if key not in data:
            return f"no {key}"
    if data["name"] != path.stem:
        return f"name {data['name']!r} is not the file's name {path.stem!r}"
    unknown = set(data) - {*COLOURS, "name", "dark", "variables"}
    if unknown:
        return f"unknown keys {', '.join(sorted(unknown))}"
    for key in COLOURS:
        if key in data:
            try:
                Color.parse(str(data[key]))
            except ColorParseError:
                return f"{key} = {data[key]!r} is not a colour"
    variables = data.get("variables", {})
    if not isinstance(variables, dict) or not all(isinstance(v, str) for v in variables.values()):
        return "variables must be strings"
    return None


def load_themes() -> list[Theme]:
    return [load_theme(path) for path in sorted(themes_dir().glob("*.toml"))]


def theme_names() -> list[str]:
    return sorted(path.stem for path in themes_dir().glob("*.toml"))


def resolve_theme(name: str) -> str:
    """The full theme name for `name` ("light" is "bpftop-light"), or ThemeError."""
    names = theme_names()
    for candidate in (name, f"bpftop-{name}"):
        if candidate in names:
            return candidate
    short = ", ".join(n.removeprefix("bpftop-") for n in names)
    raise ThemeError(f"unknown theme {name!r}; themes: {short}")


def default_theme() -> str:
    return NO_COLOR_THEME if "NO_COLOR" in os.environ else DEFAULT_THEME
