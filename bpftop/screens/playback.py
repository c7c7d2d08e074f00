"""`bpftop --replay FILE` (TUI or --json) and `bpftop --demo`: no BPF, no root."""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from bpftop.core.records import Record
from bpftop.core.resources import demo_recording
from bpftop.outputs.recording import RecordingError, RecordingHeader, RecordingReader

if TYPE_CHECKING:
    from textual.pilot import Pilot

EXIT_USAGE = 2
EXIT_DAMAGED = 1


def print_records(path: Path, out: TextIO) -> int:
    """The recorded records as JSON lines, streamed (a recording can be large)."""
    try:
        reader = RecordingReader(path)
    except RecordingError as exc:
        print(f"bpftop: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        for record in reader:
            out.write(json.dumps(record.to_json(), separators=(",", ":")) + "\n")
        out.flush()
    except BrokenPipeError:  # `| head`
        return 0
    if reader.damage:
        print(f"bpftop: warning: {reader.damage}", file=sys.stderr)
        return EXIT_DAMAGED
    return 0


def run_replay_tui(
    path: Path | None, *, refresh: float, exit_after: float | None, theme: str | None
) -> int:
    """Replay `path` (the shipped demo when None) in the dashboard."""
    from bpftop.catalog import PROBE_NAMES
    from bpftop.model.replay import Replay
    from bpftop.screens.app import BpftopApp
    from bpftop.screens.sources import ReplaySource

    shown = path or demo_recording()
    try:
        reader = RecordingReader(shown)
        records = list(reader)
    except RecordingError as exc:
        print(f"bpftop: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if not records:
        print(f"bpftop: {reader.damage or f'{shown} holds no records'}", file=sys.stderr)
        return EXIT_DAMAGED
    if not (sys.stdout.isatty() and sys.stdin.isatty()):
        print("bpftop: not a terminal; add --json for the recorded records", file=sys.stderr)
        return EXIT_USAGE
    about = dataclasses.replace(
        reader.header, replayed_from="the demo" if path is None else str(path)
    )
    app = BpftopApp(
        PROBE_NAMES,
        ReplaySource(Replay(records), about),
        theme=theme,
        refresh_seconds=refresh,
        exit_after=exit_after,
        notice=reader.damage,
    )
    app.leave_on_signals()
    return app.run() or 0


def screenshot(
    records: list[Record],
    about: RecordingHeader,
    theme: str | None,
    size: tuple[int, int] = (120, 40),
) -> str:
    """The dashboard as it stood at the end of `records`, as SVG, drawn off-screen
    (headless `--bundle` has no screen of its own to save)."""
    from bpftop.catalog import PROBE_NAMES
    from bpftop.model.replay import Replay
    from bpftop.screens.app import BpftopApp
    from bpftop.screens.dashboard import PANE_COUNT
    from bpftop.screens.sources import ReplaySource

    replay = Replay(records)
    replay.playing = False
    source = ReplaySource(replay, about)
    app = BpftopApp(PROBE_NAMES, source, theme=theme)
    svg: list[str] = []

    async def at_the_end(pilot: Pilot[object]) -> None:
        # The auto-pilot starts before the panes are mounted: a frame rendered then had
        # only the bare tables (no titles, no rows). Wait for them, and for the layout
        # the frame gives them, as a terminal would show it a refresh later.
        for _ in range(100):
            if len(app.dashboard_screen.panes) == PANE_COUNT:
                break
            await pilot.pause(0.01)
        source.seek(app.timeline, replay.end)
        app.render_snapshot()
        await pilot.pause()
        app.render_snapshot()  # the panes at the heights the first frame gave them
        await pilot.pause()
        svg.append(app.export_screenshot(title=f"bpftop on {about.host}"))
        app.exit(0)

    app.run(headless=True, size=size, auto_pilot=at_the_end)
    return svg[0] if svg else ""
