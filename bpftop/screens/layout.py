"""How many terminal rows each pane gets: panes with something to show get at least
a few rows, empty ones shrink to their title line, and what is left goes to whoever
has more to show. Pure: the app measures, this decides."""

from __future__ import annotations

from collections import deque

COLLAPSED = 1  # the title line alone (it still carries the pane's rates)
FRAME = 2  # top and bottom border
MIN_LINES = 4  # a column header and three rows
WIDE_COLUMNS = 160  # from here the panes stand in two columns
# A pane's want is its largest of the last STEADY_TICKS refreshes: it grows at once and
# gives rows back only after 30 s without needing them. A layout change moves every pane
# below it, and over SSH that is all their lines again (a disk pane that grew for one
# write every few seconds cost ~2.5 KB each time on an idle box).
STEADY_TICKS = 30


def serving_order(panes: int, focused: int | None, alarming: set[int]) -> list[int]:
    """Who gets rows first when there are not enough: the focused pane, then the ones
    where something fails now, then the rest, top to bottom."""
    return sorted(range(panes), key=lambda i: (i != focused, i not in alarming, i))


def pane_heights(total: int, wants: list[int], order: list[int] | None = None) -> list[int]:
    """Heights summing to `total` (when it allows one line per pane) for panes stacked
    top to bottom. `wants[i]`: lines of content pane i would show, 0 for nothing.
    `order`: who is served first (serving_order), top to bottom by default."""
    order = list(range(len(wants))) if order is None else order
    heights = [COLLAPSED] * len(wants)
    budget = total - COLLAPSED * len(wants)
    opened = []
    for i in order:  # a frame and a few lines for each pane with content, while they fit
        if wants[i] <= 0:
            continue
        need = FRAME + min(wants[i], MIN_LINES) - COLLAPSED
        if need <= budget:
            heights[i] += need
            budget -= need
            opened.append(i)
    # Then one line at a time, in turn, to panes that have more to show.
    while budget > 0:
        hungry = [i for i in opened if heights[i] < FRAME + wants[i]]
        if not hungry:
            break
        for i in hungry:
            if budget == 0:
                break
            heights[i] += 1
            budget -= 1
    # Everyone has all it wants: the rest is spread over the open panes (or, with none
    # open, goes to the first), so the screen is filled.
    takers = opened or order[:1]
    index = 0
    while budget > 0 and takers:
        heights[takers[index % len(takers)]] += 1
        budget -= 1
        index += 1
    return heights


def columns_for(width: int, panes: int) -> list[list[int]]:
    """Pane indexes per column: one column below WIDE_COLUMNS, else two halves."""
    if width < WIDE_COLUMNS:
        return [list(range(panes))]
    half = (panes + 1) // 2
    return [list(range(half)), list(range(half, panes))]


class SteadyWants:
    """Each pane's want as the largest of its last few: a pane whose rows come and go
    every second (the CPU pane's busy processes) does not make the layout jump."""

    def __init__(self) -> None:
        self._seen: list[deque[int]] = []

    def add(self, wants: list[int]) -> list[int]:
        while len(self._seen) < len(wants):
            self._seen.append(deque(maxlen=STEADY_TICKS))
        for seen, want in zip(self._seen, wants, strict=False):
            seen.append(want)
        return [max(seen) for seen in self._seen]
