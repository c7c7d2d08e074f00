"""Pane heights for a terminal size: pure rules, no Textual."""

from __future__ import annotations

from bpftop.screens.layout import (
    COLLAPSED,
    FRAME,
    STEADY_TICKS,
    SteadyWants,
    columns_for,
    pane_heights,
    serving_order,
)

SIX = 6


def test_80x24_gives_each_pane_with_data_three_rows_and_collapses_the_empty() -> None:
    # 24 lines less the header and footer; CPU, TCP and disk have data, the rest none.
    heights = pane_heights(22, [8, 0, 12, 9, 0, 0])
    assert sum(heights) == 22
    assert [heights[i] for i in (1, 4, 5)] == [COLLAPSED] * 3
    assert all(heights[i] >= FRAME + 4 for i in (0, 2, 3))  # header + 3 rows


def test_too_many_busy_panes_for_the_screen_serve_the_focused_first() -> None:
    heights = pane_heights(22, [9] * SIX, serving_order(SIX, 4, set()))
    assert sum(heights) == 22
    assert heights[4] >= FRAME + 4
    assert heights.count(COLLAPSED) >= 2  # the ones that did not fit show their title line


def test_space_beyond_every_want_is_spread_over_the_open_panes() -> None:
    heights = pane_heights(58, [2, 2, 0, 0, 0, 0])
    assert sum(heights) == 58 and heights[2:] == [COLLAPSED] * 4
    assert abs(heights[0] - heights[1]) <= 1


def test_nothing_to_show_anywhere_still_fills_the_screen() -> None:
    heights = pane_heights(22, [0] * SIX)
    assert sum(heights) == 22 and heights[1:] == [COLLAPSED] * 5


def test_a_tiny_terminal_collapses_everything_it_cannot_fit() -> None:
    heights = pane_heights(6, [5] * SIX)
    assert heights == [COLLAPSED] * SIX


def test_wide_terminals_get_two_columns() -> None:
    assert columns_for(120, SIX) == [[0, 1, 2, 3, 4, 5]]
    assert columns_for(200, SIX) == [[0, 1, 2], [3, 4, 5]]


def test_a_want_lasts_a_few_refreshes() -> None:
    steady = SteadyWants()
    assert steady.add([5, 0]) == [5, 0]
    assert steady.add([1, 2]) == [5, 2]
    for _ in range(STEADY_TICKS - 2):
        last = steady.add([1, 2])
    assert last == [5, 2]  # the first 5 is still among the last STEADY_TICKS
    assert steady.add([1, 2]) == [1, 2]


def test_failing_panes_are_served_before_calm_ones_but_after_the_focused() -> None:
    assert serving_order(SIX, None, {4, 2}) == [2, 4, 0, 1, 3, 5]
    assert serving_order(SIX, 5, {4}) == [5, 4, 0, 1, 2, 3]
    heights = pane_heights(22, [9] * SIX, serving_order(SIX, None, {4}))
    assert heights[4] >= FRAME + 4
