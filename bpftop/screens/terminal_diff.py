"""Only changed cells go over the link.

Textual repaints a widget whole when anything in it changes: a pane whose title rate
went from 41/s to 42/s is sent again line by line, blank lines included. Over SSH
that was ~9 KB/s on an idle box (htop: ~0.4 KB/s). This module keeps a copy of what
the terminal shows and cuts each screen update down to the runs of cells that differ
from it, so the link carries what a viewer can see change and nothing else.

Hooked into the app's display path (textual_seam.FilteredDisplay): it sees the compositor's
updates (LayoutUpdate: whole regions; ChopsUpdate: spans of lines) before they are
rendered to escape sequences. Where the terminal's content is unknown (start, resize,
after a suspend, ctrl+l) the copy is forgotten and everything is sent again.
"""

from __future__ import annotations

from collections.abc import Iterable

from rich.cells import cell_len
from rich.color import ColorSystem
from rich.console import Console
from textual.strip import Strip

from bpftop.panes.textual_seam import ChopsUpdate, CompositorUpdate, LayoutUpdate, style_sgr

# One terminal cell: its character ("" for the right half of a wide one) and its SGR
# codes, the style as the terminal sees it (Textual's styles also carry mouse metadata
# that differs from cell to cell and draws nothing).
Cell = tuple[str, str]
Run = tuple[int, int, list[Cell]]  # x, y, the cells to write there
GAP = 6  # unchanged cells between two runs that are sent anyway (a cursor move costs ~8 B)


class TerminalCopy:
    def __init__(self) -> None:
        self._lines: dict[int, list[Cell | None]] = {}  # None: not known
        self._size: tuple[int, int] | None = None
        # The terminal's SGR state after our last write (None: not known). Kept from one
        # update to the next: the style that ended one often starts the next, and each
        # SGR sequence is ~25 bytes (on an idle box, a third of what bpftop sent).
        self._sgr: str | None = None

    def forget(self) -> None:
        """The terminal's content is unknown: the next update is sent whole."""
        self._lines = {}
        self._sgr = None

    def changes(
        self, update: CompositorUpdate, size: tuple[int, int], color_system: ColorSystem
    ) -> CompositorUpdate | None:
        """`update` cut to what differs from the terminal (None: nothing does), and the
        copy brought up to date. Updates of other kinds pass through, and the copy is
        forgotten (their effect on the screen is not modelled)."""
        if size != self._size:
            self._size = size
            self.forget()
        width = size[0]
        if isinstance(update, LayoutUpdate):
            pieces = [(y, update.region.x, list(line)) for y, line in
                      enumerate(update.strips, update.region.y)]  # fmt: skip
        elif isinstance(update, ChopsUpdate):
            pieces = list(_chop_pieces(update))
        else:
            self.forget()
            return update
        writes = [(y, x, _cells(strips, color_system)) for y, x, strips in pieces]
        if any(cells is None for _y, _x, cells in writes):
            self.forget()  # control codes: not modelled, so sent as they are
            return update
        runs: list[Run] = []
        for y, x, cells in writes:
            line = self._lines.setdefault(y, [None] * width)
            runs.extend(_apply(line, x, cells or [], y))
        if not runs:
            return None
        cell_update = CellUpdate(runs, self._sgr)
        self._sgr = cell_update.final_sgr
        return cell_update


def _chop_pieces(update: ChopsUpdate) -> Iterable[tuple[int, int, list[Strip]]]:
    """The (y, x, strips) a ChopsUpdate writes, cropped to its spans as it does."""
    for y, x1, x2 in update.spans:
        for end, (x, strip) in zip(update.chop_ends[y], update.chops[y].items(), strict=False):
            if strip is None or x > x2 or end <= x1:
                continue
            start, stop = max(x, x1), min(end, x2)
            yield y, start, [strip.crop(start - x, stop - x)]


def _cells(strips: list[Strip], color_system: ColorSystem) -> list[Cell] | None:
    cells: list[Cell] = []
    for strip in strips:
        for text, style, control in strip:
            sgr = style_sgr(style, color_system)
            if control or sgr is None:
                return None
            if text.isascii() and text.isprintable():  # one cell per character
                cells.extend([(char, sgr) for char in text])
                continue
            for char in text:
                width = cell_len(char)
                if width == 0:  # a combining mark: part of the cell before it
                    if cells:
                        prev, prev_sgr = cells[-1]
                        cells[-1] = (prev + char, prev_sgr)
                    continue
                cells.append((char, sgr))
                if width == 2:
                    cells.append(("", sgr))
    return cells


def _apply(line: list[Cell | None], x: int, cells: list[Cell], y: int) -> list[Run]:
    """Write `cells` at `x` into the copy of a line; return the runs that changed."""
    end = min(len(line), x + len(cells))
    if line[x:end] == cells[: end - x]:  # most lines of a repainted widget are as they were
        return []
    spans: list[list[int]] = []  # [first, last] changed cell; close ones merged
    for i in range(x, end):
        if line[i] != cells[i - x]:
            if spans and i - spans[-1][1] <= GAP:
                spans[-1][1] = i
            else:
                spans.append([i, i])
    line[x:end] = cells[: end - x]
    runs: list[Run] = []
    for first, last in spans:
        a, b = first, last + 1
        if a > x and cells[a - x][0] == "":  # never start on the right half of a wide char
            a -= 1
        if b < end and cells[b - x][0] == "":
            b += 1
        runs.append((a, y, cells[a - x : b - x]))
    return runs


class CellUpdate(CompositorUpdate):
    """Runs of cells to write, each at its position. One SGR sequence per change of
    style (Rich's own rendering resets after every segment: twice the bytes), starting
    from the terminal's SGR state `sgr` (None: unknown) and leaving it at `final_sgr`
    (no reset at the end: the next update starts from it)."""

    def __init__(self, runs: list[Run], sgr: str | None = None) -> None:
        self.runs = runs
        out: list[str] = []
        current = sgr
        for x, y, cells in runs:
            out.append(f"\x1b[{y + 1};{x + 1}H")
            for char, cell_sgr in cells:
                if cell_sgr != current:
                    out.append(sgr_change(current, cell_sgr))
                    current = cell_sgr
                out.append(char)
        self._text = "".join(out)
        self.final_sgr = current

    def render_segments(self, console: Console) -> str:
        return self._text


# An SGR state as (attributes, foreground, background): "1;7;38;5;253;48;5;233" is
# ({"1", "7"}, "38;5;253", "48;5;233"). None where a code is not understood.
SgrState = tuple[frozenset[str], str | None, str | None]


def _parse_sgr(sgr: str) -> SgrState | None:
    codes = sgr.split(";") if sgr else []
    attrs: set[str] = set()
    colours: dict[str, str] = {}
    i = 0
    while i < len(codes):
        code = codes[i]
        if code in ("38", "48") and i + 1 < len(codes):
            width = {"5": 3, "2": 5}.get(codes[i + 1])
            if width is None or i + width > len(codes):
                return None
            colours[code] = ";".join(codes[i : i + width])
            i += width
        elif code in ("1", "2", "3", "4", "5", "7", "8", "9", "21", "51", "52", "53"):
            attrs.add(code)
            i += 1
        else:
            return None  # a basic colour, a reset inside: send the whole state
    return frozenset(attrs), colours.get("38"), colours.get("48")


def sgr_change(current: str | None, new: str) -> str:
    """The escape sequence that takes the terminal from SGR state `current` (None:
    unknown) to `new`: only what differs when nothing has to be switched off (a colour
    change alone is ~11 bytes instead of ~25), else a reset and the whole state."""
    whole = f"\x1b[0;{new}m" if new else "\x1b[0m"
    if not new:
        return whole  # the default style: a plain reset is the shortest way there
    before = _parse_sgr(current) if current is not None else None
    after = _parse_sgr(new)
    if before is None or after is None or not after[0] >= before[0]:
        return whole
    codes = sorted(after[0] - before[0])
    for index, default in ((1, "39"), (2, "49")):
        if after[index] != before[index]:
            codes.append(after[index] or default)  # type: ignore[arg-type]
    return f"\x1b[{';'.join(codes)}m" if codes else ""
