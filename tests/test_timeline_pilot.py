"""The time keys in the app (pilot, no BPF): pause and rewind live, play/pause/speed/
seek a replay, go to a moment, cycle themes, and write a bundle with one key."""

from __future__ import annotations

import dataclasses
import stat
from pathlib import Path
from typing import Any

import pytest

from bpftop.catalog import PROBE_NAMES
from bpftop.model.connections import ConnectSnapshot
from bpftop.model.execs import ExecModel, ExecSnapshot
from bpftop.model.history import Frame
from bpftop.model.replay import Replay
from bpftop.outputs.recording import read_all
from bpftop.screens.app import BpftopApp
from bpftop.screens.themes import theme_names
from tests.helpers.apps import demo_app, recorded_live, replaying
from tests.helpers.recorded import recorded_drilldown, recorded_session


def header_of(app: BpftopApp) -> str:
    return str(app.query_one("#header").render())


def frozen(app: BpftopApp) -> Frame | None:
    """The frame shown, read afresh (a key press between two reads changes it)."""
    return app.timeline.frozen


def frozen_seq(app: BpftopApp) -> int | None:
    frame = frozen(app)
    return frame.seq if frame is not None else None


def playing(replay: Replay) -> bool:
    return replay.playing


async def test_live_pause_rewind_and_back_to_live() -> None:
    app = BpftopApp(PROBE_NAMES, recorded_live(),
                    refresh_seconds=0.05)  # fmt: skip
    async with app.run_test(size=(120, 40)) as pilot:
        for _ in range(100):  # a few frames in the history (slower on a loaded box)
            if len(app.timeline.history) >= 4:
                break
            await pilot.pause(0.05)
        await pilot.press("p")
        assert frozen(app) is not None and "PAUSED" in header_of(app)
        frames = len(app.timeline.history)
        await pilot.pause(0.3)
        assert len(app.timeline.history) > frames  # counting (and history) goes on underneath
        paused_at = frozen_seq(app)
        assert paused_at is not None
        await pilot.press("left_square_bracket", "left_square_bracket")
        assert frozen(app) is not None and "REWIND" in header_of(app)
        assert frozen_seq(app) == paused_at - 2  # frame by frame, whatever live does meanwhile
        await pilot.press("right_square_bracket")
        assert frozen_seq(app) == paused_at - 1
        await pilot.press("p")
        await pilot.pause(0.1)
        assert frozen(app) is None
        assert "REWIND" not in header_of(app) and "PAUSED" not in header_of(app)


async def test_replay_play_pause_speed_seek_and_goto() -> None:
    app = demo_app()
    async with app.run_test(size=(100, 30)) as pilot:
        replay = replaying(app).replay
        assert replay is not None and not replay.playing
        await pilot.press("greater_than_sign", "greater_than_sign")
        assert replay.position == replay.start + 20
        rows = app.timeline.dashboard.model("exec", ExecModel).snapshot().rows
        assert rows and all(r.ts <= replay.position for r in rows)
        await pilot.press("plus", "plus")
        assert replay.speed == 4.0
        await pilot.press("p")
        assert playing(replay)
        await pilot.press("p")
        assert not playing(replay)
        await pilot.press("less_than_sign")  # back: the models are rebuilt to that moment
        assert replay.position == pytest.approx(replay.start + 10, abs=1.5)
        assert all(
            r.ts <= replay.position
            for r in app.timeline.dashboard.model("exec", ExecModel).snapshot().rows
        )
        await pilot.press("g")
        await pilot.press(*"yesterday", "enter")
        assert "not a time" in str(app.screen.query_one("#prompt-error").render())
        app.screen.query_one("#prompt-input").value = "-30s"  # type: ignore[attr-defined]
        await pilot.press("enter")
        await pilot.pause(0.1)
        assert replay.position == replay.end - 30
        assert "REPLAY" in header_of(app)


async def test_spike_key_pivots_every_pane_to_the_spike() -> None:
    app = demo_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("exclamation_mark")
        frame = frozen(app)
        assert frame is not None and replaying(app).replay is not None
        assert 80 <= frame.ts - replaying(app).replay.start <= 87
        # Every pane shows that moment: nothing newer than it anywhere.
        snap = frame.snapshot
        rows = snap.view("exec", ExecSnapshot).rows
        assert rows and max(r.ts for r in rows) <= frame.ts
        assert max(r.ts for r in snap.view("connect", ConnectSnapshot).rows) <= frame.ts
        assert "REWIND" in header_of(app)


async def test_theme_key_cycles_every_theme() -> None:
    app = demo_app()
    async with app.run_test(size=(100, 30)) as pilot:
        seen = [app.theme]
        for _ in theme_names():
            await pilot.press("T")
            seen.append(app.theme)
        assert sorted(set(seen)) == theme_names() and seen[0] == seen[-1]


async def test_bundle_key_writes_a_private_bundle(tmp_path: Path, monkeypatch) -> None:
    """`B` writes to the user's home, not to whatever directory bpftop started in (a
    bundle once landed in a repository checkout)."""
    started_in = tmp_path / "checkout"
    started_in.mkdir()
    monkeypatch.chdir(started_in)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("SUDO_USER", raising=False)
    app = demo_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("greater_than_sign", "greater_than_sign", "greater_than_sign")
        await pilot.press("B")
        for _ in range(100):
            bundles = list(tmp_path.glob("bpftop-bundle-web-01-*"))
            if bundles and (bundles[0] / "report.txt").exists():
                break
            await pilot.pause(0.05)
    (bundle,) = bundles
    assert not list(started_in.iterdir())
    assert stat.S_IMODE(bundle.stat().st_mode) == 0o700
    assert "REPLAY" in (bundle / "screen.svg").read_text()
    _, records, damage = read_all(bundle / "recording.jsonl.gz")
    assert damage is None and records
    assert max(r.ts for r in records) <= replaying(app).replay.start + 30  # type: ignore[union-attr]
    report = (bundle / "report.txt").read_text()
    assert "replayed  from the demo" in report and "host      web-01" in report
    assert "exec      attached via tracepoint:syscalls:sys_enter_execve" in report


async def test_no_color_picks_the_high_contrast_theme(monkeypatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    app = demo_app()
    async with app.run_test(size=(80, 24)):
        assert app.theme == "bpftop-high-contrast"


async def test_replay_filter_applies_to_what_plays_and_survives_a_seek_back() -> None:
    app = demo_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("slash")
        app.screen.query_one("#prompt-input").value = "dev=vda"  # type: ignore[attr-defined]
        await pilot.press("enter")
        assert "needs the live box" in str(app.screen.query_one("#prompt-error").render())
        app.screen.query_one("#prompt-input").value = "comm=curl"  # type: ignore[attr-defined]
        await pilot.press("enter")
        await pilot.press("greater_than_sign", "greater_than_sign", "less_than_sign")
        rows = app.timeline.dashboard.model("exec", ExecModel).snapshot().rows
        assert rows and {r.comm for r in rows} == {"curl"}
        assert "FILTER comm=curl" in header_of(app)
        await pilot.press("P")  # no live process list in a replay
        assert app.screen is app.screen_stack[0]


def extreme(records: list[Any], value: float) -> list[Any]:
    """Every number in every record set to `value` (a hand-edited or foreign recording
    that still decodes: the panes must draw it, not crash)."""
    out = []
    for r in records:
        changes: dict[str, Any] = {}
        for f in dataclasses.fields(r):
            current = getattr(r, f.name)
            if isinstance(current, bool) or f.name == "ts":
                continue
            if isinstance(current, int):
                changes[f.name] = int(value)
            elif isinstance(current, float):
                changes[f.name] = float(value)
            elif isinstance(current, str) and f.name not in ("probe", "state", "type"):
                changes[f.name] = "[bold]x" * 40 if value else ""
        out.append(dataclasses.replace(r, **changes))
    return out


@pytest.mark.parametrize("value", [0, -1, 2**62])
async def test_panes_draw_records_with_extreme_values(value: int) -> None:
    records = extreme(recorded_session() + recorded_drilldown(), value)
    app = BpftopApp(PROBE_NAMES, recorded_live(records),
                    refresh_seconds=60)  # fmt: skip
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause(0.1)
        app.render_snapshot()
        for key in ("tab", "z", "tab", "z", "tab", "z", "question_mark", "escape"):
            await pilot.press(key)
        await pilot.pause(0.1)
        assert app.is_running


async def test_going_beyond_the_history_says_how_far_it_reaches() -> None:
    app = BpftopApp(PROBE_NAMES, recorded_live(),
                    refresh_seconds=0.05)  # fmt: skip
    said: list[str] = []
    app.notify = lambda message, **_kw: said.append(str(message))  # type: ignore[method-assign]
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.4)
        await pilot.press("g")
        app.screen.query_one("#prompt-input").value = "-2h"  # type: ignore[attr-defined]
        await pilot.press("enter")
        await pilot.pause(0.1)
        assert (
            frozen(app) is not None and frozen(app).seq == app.timeline.history.oldest.seq  # type: ignore[union-attr]
        )
    assert any(s.startswith("the history reaches back to") for s in said), said


async def test_recording_shows_rec_in_the_header() -> None:
    app = BpftopApp(PROBE_NAMES, recorded_live(recording=True), refresh_seconds=0.05,
                    tap=lambda _record: None)  # fmt: skip
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.2)
        assert header_of(app).lstrip().startswith("REC")
