"""Frames of the whole screen, rendered from a recording with a frozen clock."""

from __future__ import annotations

import html
from typing import Any

import pytest
from rich.text import Text
from textual.coordinate import Coordinate

from bpftop.catalog import PROBE_NAMES
from bpftop.core.records import (
    DenialGroupRecord,
    DenialRecord,
    ExecRecord,
    ProbeStatus,
    XdpRecord,
)
from bpftop.panes.disks import DiskPane
from bpftop.panes.execs import ExecPane
from bpftop.screens.app import BpftopApp
from tests.helpers.apps import demo_app, recorded_app, recorded_live, replaying
from tests.helpers.recorded import (
    DRILL_PID,
    T0,
    recorded_drilldown,
    recorded_process,
    recorded_session,
)
from tests.helpers.timing import wait_until_async


def quiet_denials_and_xdp(records: list[Any]) -> list[Any]:
    """The recorded session with the denials and XDP probes attached but seeing nothing."""
    return [
        r for r in records
        if isinstance(r, ProbeStatus) or (getattr(r, "probe", None) not in ("denials", "xdp")
        and not isinstance(r, (DenialRecord, DenialGroupRecord, XdpRecord)))
    ]  # fmt: skip


async def settle(pilot) -> None:
    await pilot.pause(0.1)
    pilot.app.render_snapshot()
    await pilot.pause(0.1)


async def tab_to(pilot, pane_id: str) -> None:
    """Tab as a user would until the focus is in the pane (panes with failure groups
    have two tables, so the number of presses depends on the data)."""
    pane = pilot.app.query_one(f"#{pane_id}")
    for _ in range(20):
        await pilot.press("tab")
        focused = pilot.app.focused
        if focused is not None and pane in focused.ancestors:
            return
    raise AssertionError(f"Tab never reached #{pane_id}")


@pytest.mark.parametrize("size", [(80, 24), (160, 48)])
def test_dashboard(snap_compare, size: tuple[int, int]) -> None:
    assert snap_compare(recorded_app(), terminal_size=size, run_before=settle)


@pytest.mark.parametrize("size", [(60, 20), (80, 24), (120, 40), (200, 60)])
def test_layout_fits_the_terminal(snap_compare, size: tuple[int, int]) -> None:
    """Empty panes shrink to their title line, busy ones get rows; from 160 columns two
    columns; at 60x20 the footer still shows ? and q."""
    app = BpftopApp(
        PROBE_NAMES,
        recorded_live(quiet_denials_and_xdp(recorded_session()), clock=lambda: T0 + 10),
        refresh_seconds=60,
    )
    assert snap_compare(app, terminal_size=size, run_before=settle)


def test_exec_probe_off_and_zoomed_connections(snap_compare) -> None:
    async def toggle_and_zoom(pilot) -> None:
        await settle(pilot)
        await pilot.press("1")
        await tab_to(pilot, "pane-connect")
        await pilot.press("z")
        await settle(pilot)

    assert snap_compare(recorded_app(), terminal_size=(80, 24), run_before=toggle_and_zoom)


def test_help_screen(snap_compare) -> None:
    async def open_help(pilot) -> None:
        await settle(pilot)
        heights = [p.size.height for p in pilot.app.dashboard_screen.panes]
        await pilot.press("question_mark")
        await pilot.pause(0.2)
        # The dashboard behind keeps its layout: its focused pane is still served first.
        # (Until December the help's focus counted as the dashboard's, and opening it
        # reflowed every pane behind it: a repaint over the link, and this frame changed.)
        pilot.app.render_snapshot()
        await pilot.pause(0.1)
        assert [p.size.height for p in pilot.app.dashboard_screen.panes] == heights

    assert snap_compare(recorded_app(), terminal_size=(80, 24), run_before=open_help)


async def test_help_shows_every_key_without_markup_leaking() -> None:
    app = recorded_app()
    async with app.run_test(size=(100, 120)) as pilot:  # tall enough for every line
        await settle(pilot)
        await pilot.press("question_mark")
        await pilot.pause(0.2)
        text = html.unescape(app.export_screenshot()).replace("\xa0", " ")
    assert "[/" not in text and "[b]" not in text
    for key in ("[", "]", "{", "}", "silent caps", "RUNQ P99"):
        assert key in text


def test_disk_pane_zoomed_with_slow_filter(snap_compare) -> None:
    async def zoom_disk(pilot) -> None:
        await settle(pilot)
        await tab_to(pilot, "pane-disk")
        await pilot.press("z", "t", "t")  # slow filter: 10 ms
        await settle(pilot)

    assert snap_compare(recorded_app(), terminal_size=(80, 24), run_before=zoom_disk)


def test_disk_pane_large(snap_compare) -> None:
    async def zoom_disk(pilot) -> None:
        await settle(pilot)
        await tab_to(pilot, "pane-disk")
        await pilot.press("z")
        await settle(pilot)

    assert snap_compare(recorded_app(), terminal_size=(160, 48), run_before=zoom_disk)


async def test_picking_a_device_shows_its_histogram_and_stays_picked() -> None:
    app = recorded_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        pane = app.query_one("#pane-disk", DiskPane)
        assert pane.selected_dev == "nvme0n1"  # the first busy device
        pane.devices_table.focus()
        await pilot.press("down")
        await settle(pilot)
        for _ in range(3):  # refreshes rebuild the table; the pick must survive them
            app.render_snapshot()
            await pilot.pause(0.05)
        assert pane.selected_dev == "vda"
        assert pane.devices_table.cursor_row == 1
        hist = str(app.query_one("#disk-hist").render())
        assert hist.startswith("vda 5s") and "256us-512us" in hist


async def test_a_refresh_of_an_unchanged_disk_updates_no_device_cell(monkeypatch) -> None:
    """The device table updates its cells in place, and each update_cell renders the table
    anew under a new cache key (the old keys' entries stayed until the caches were full:
    the TUI's RSS crept for ten minutes). Refreshes with the same numbers update nothing."""
    app = recorded_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        table = app.query_one("#pane-disk", DiskPane).devices_table
        updates: list[tuple[Any, ...]] = []
        original = table.update_cell

        def counted(*args: Any, **kwargs: Any) -> None:
            updates.append(args)
            original(*args, **kwargs)

        monkeypatch.setattr(table, "update_cell", counted)
        for _ in range(10):
            app.render_snapshot()
            await pilot.pause(0.02)
        assert table.row_count == 3 and updates == []


def test_denials_pane_zoomed(snap_compare) -> None:
    async def zoom_denials(pilot) -> None:
        await settle(pilot)
        await tab_to(pilot, "pane-denials")
        await pilot.press("z")
        await settle(pilot)

    assert snap_compare(recorded_app(), terminal_size=(80, 24), run_before=zoom_denials)


def test_xdp_pane_zoomed(snap_compare) -> None:
    async def zoom_xdp(pilot) -> None:
        await settle(pilot)
        await tab_to(pilot, "pane-xdp")
        await pilot.press("z")
        await settle(pilot)

    assert snap_compare(recorded_app(), terminal_size=(80, 24), run_before=zoom_xdp)


async def test_the_screen_keeps_refreshing_under_the_help_and_a_prompt() -> None:
    """The refresh timer renders the dashboard while a modal is on top of it."""
    app = BpftopApp(
        PROBE_NAMES,
        recorded_live(clock=lambda: T0 + 10),
        refresh_seconds=0.05,
    )
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("question_mark")
        await pilot.pause(0.3)  # several refreshes with the help on top
        assert app.is_running and type(app.screen).__name__ == "HelpScreen"
        await pilot.press("escape")
        await pilot.pause(0.1)
        assert app.is_running


def drilldown_app() -> BpftopApp:
    return BpftopApp(
        PROBE_NAMES,
        recorded_live(clock=lambda: T0 + 10),
        refresh_seconds=60,
        watch_process=lambda pid: recorded_process if pid == DRILL_PID else None,
    )


async def open_drilldown(pilot) -> None:
    await settle(pilot)
    pilot.app.open_drilldown(DRILL_PID)
    for record in recorded_drilldown():
        pilot.app.sink(record)
    await settle(pilot)


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
def test_drilldown(snap_compare, size: tuple[int, int]) -> None:
    assert snap_compare(drilldown_app(), terminal_size=size, run_before=open_drilldown)


def test_drilldown_open_files(snap_compare) -> None:
    async def open_files(pilot) -> None:
        await open_drilldown(pilot)
        await pilot.press("o")
        await settle(pilot)

    assert snap_compare(drilldown_app(), terminal_size=(80, 24), run_before=open_files)


def test_drilldown_latency_of_a_function(snap_compare) -> None:
    async def latency(pilot) -> None:
        await open_drilldown(pilot)
        await pilot.press("o", "o")  # events -> open files -> latency of the first function
        await settle(pilot)

    assert snap_compare(drilldown_app(), terminal_size=(80, 24), run_before=latency)


async def test_brackets_in_argv_are_shown_as_typed() -> None:
    """Cells are plain text: `grep [a-z]` must not be read as Rich markup."""
    argv = ("grep", "-E", "[a-z]+", "[bold]x[/bold]")
    records = [*recorded_session(), ExecRecord(T0 + 9.9, 4242, 1, 0, "grep", argv, 0, "/bin/grep")]
    app = BpftopApp(PROBE_NAMES, recorded_live(records, clock=lambda: T0 + 10), refresh_seconds=60)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        table = app.query_one("#pane-exec", ExecPane).table
        cells = [table.get_cell_at(Coordinate(0, c)) for c in range(len(table.columns))]
        # DataTable renders a str as markup ("[bold]" would vanish); a Text as it is.
        assert all(isinstance(cell, Text) for cell in cells)
        assert "grep -E [a-z]+ [bold]x[/bold]" in [cell.plain for cell in cells]


@pytest.mark.parametrize("theme", ["bpftop-light", "bpftop-high-contrast"])
def test_other_themes(snap_compare, theme: str) -> None:
    """The default (dark) theme is in every other frame here."""
    assert snap_compare(recorded_app(theme), terminal_size=(120, 40), run_before=settle)


def test_replay_header_at_the_disk_spike(snap_compare) -> None:
    async def to_the_spike(pilot) -> None:
        app = pilot.app
        replaying(app).seek(app.timeline, replaying(app).replay.start + 84)
        await settle(pilot)

    assert snap_compare(demo_app(), terminal_size=(80, 24), run_before=to_the_spike)


def test_rewind_header_on_a_replay(snap_compare) -> None:
    async def rewind(pilot) -> None:
        app = pilot.app
        replaying(app).seek(app.timeline, replaying(app).replay.end)
        await pilot.press("left_curly_bracket", "left_curly_bracket", "left_curly_bracket")
        await pilot.press("left_square_bracket", "left_square_bracket")
        await settle(pilot)

    assert snap_compare(demo_app(), terminal_size=(120, 40), run_before=rewind)


def test_no_color(snap_compare, monkeypatch) -> None:
    """NO_COLOR: Textual draws greys, so meaning rides on attributes (failures bold
    and underlined, floods reversed), and the focused pane's title is reversed."""
    monkeypatch.setenv("NO_COLOR", "1")

    async def focus_execs(pilot) -> None:
        await settle(pilot)
        await tab_to(pilot, "pane-exec")
        await settle(pilot)

    assert snap_compare(recorded_app(), terminal_size=(120, 40), run_before=focus_execs)


async def test_a_pane_fills_a_screenful_of_rows_and_more_when_zoomed() -> None:
    """Every row a table holds is measured and rendered at each refresh: a pane fills
    what it shows (and a few more), not 100 rows for 8 lines, and fills more when it
    gets more lines. The layout still sizes it by all the rows it could show."""
    from bpftop.panes.base import ROWS_AHEAD
    from bpftop.panes.connections import ConnectPane

    app = recorded_app()
    async with app.run_test(size=(80, 24)) as pilot:
        pane = app.dashboard_screen.query_one(ConnectPane)
        # The layout fits the panes after the first fill: render again once it holds still.
        height = -1
        while pane.size.height != height:
            height = pane.size.height
            await settle(pilot)
        small = pane.table.row_count
        assert small <= pane.size.height + ROWS_AHEAD < pane.rows_available
        await tab_to(pilot, "pane-connect")
        await pilot.press("z")
        await settle(pilot)
        assert pane.size.height > small
        # The zoomed pane fills on its resize, which may come a refresh after the zoom.
        filled = await wait_until_async(
            lambda: pane.table.row_count >= min(pane.rows_available, pane.size.height),
            pilot.pause, timeout=2.0)  # fmt: skip
        assert filled and pane.table.row_count > small, (pane.table.row_count, pane.size)
