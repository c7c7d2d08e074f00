"""The timeline and the two record sources without Textual: what each time key does
live and in a replay, on plain objects (the app only renders what they hold)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from bpftop.catalog import new_dashboard
from bpftop.core.commands import SetFilter
from bpftop.core.filters import FilterError
from bpftop.core.records import ExecRecord
from bpftop.model.execs import ExecSnapshot
from bpftop.model.replay import Replay
from bpftop.model.timeline import Timeline
from bpftop.outputs.recording import RecordingHeader
from bpftop.screens.sources import LiveSource, ReplaySource
from tests.helpers.recorded import DEMO_SECONDS, demo_session


class Now:
    def __init__(self, ts: float) -> None:
        self.ts = ts

    def __call__(self) -> float:
        return self.ts


def frozen_ts(timeline: Timeline) -> float | None:
    """When the frame shown is from (None: live), read afresh after each key."""
    return timeline.frozen.ts if timeline.frozen is not None else None


def playing(replay: Replay) -> bool:
    return replay.playing


def exec_at(ts: float, n: int, comm: str = "true") -> ExecRecord:
    return ExecRecord(ts, n, 1, 0, comm, (f"/bin/{comm}", str(n)), 0, f"/bin/{comm}")


def live(now: Now) -> tuple[LiveSource, Timeline]:
    source = LiveSource(lambda sink, _settings: None, clock=now)  # type: ignore[arg-type,return-value]
    timeline = Timeline(new_dashboard, clock=source.now)
    source.connect(timeline.add)
    return source, timeline


def test_live_pause_steps_and_goto_move_within_frames_while_counting_goes_on() -> None:
    now = Now(1000.0)
    source, timeline = live(now)
    for second in range(10):
        now.ts = 1000.0 + second
        timeline.add(exec_at(now.ts, second))
        assert source.refresh(timeline) is not None  # live: each refresh is shown
    source.pause(timeline)
    assert frozen_ts(timeline) == 1009.0
    (paused,) = source.banner(timeline)
    assert paused.startswith("PAUSED ")
    now.ts = 1010.0
    timeline.add(exec_at(now.ts, 10))
    assert source.refresh(timeline) is None  # frozen: the frame stays on screen
    assert len(timeline.history) == 11  # the history goes on underneath
    source.step(timeline, -3)
    assert frozen_ts(timeline) == 1006.0 and timeline.rewound
    assert source.banner(timeline)[0].startswith("REWIND")
    assert (
        max(r.ts for r in timeline.shown().view("exec", ExecSnapshot).rows) == 1006.0
    )  # nothing newer shown
    note = source.go_to(timeline, 900.0)  # before the history: the oldest, and a note
    assert frozen_ts(timeline) == 1000.0 and note and "reaches back" in note
    assert source.speed(1) == "speed is for replays (bpftop --replay FILE)"
    source.pause(timeline)
    assert frozen_ts(timeline) is None and source.banner(timeline) == []


def test_a_replay_seeks_back_by_rebuilding_the_models_and_filters_itself() -> None:
    records = demo_session()
    replay = Replay(records)
    replay.playing = False
    source = ReplaySource(replay, RecordingHeader(interval_s=1.0))
    timeline = Timeline(new_dashboard, clock=source.now)
    source.connect(timeline.add)
    source.seek(timeline, replay.end)
    assert len(timeline.history) == DEMO_SECONDS  # a frame per recorded interval
    everything = timeline.snapshot().view("exec", ExecSnapshot).execs.total
    source.seek_by(timeline, -60)  # back: rebuilt from the start to that moment
    assert replay.position == replay.end - 60
    assert 0 < timeline.snapshot().view("exec", ExecSnapshot).execs.total < everything
    assert all(r.ts <= replay.position for r in timeline.snapshot().view("exec", ExecSnapshot).rows)
    # The filter is the source's to apply: there is no kernel to do it.
    only = source.parse_filter("comm=curl")
    timeline.set_filter(only)
    source.submit(SetFilter(only))
    source.seek(timeline, replay.start)
    source.seek(timeline, replay.end)
    assert {r.comm for r in timeline.snapshot().view("exec", ExecSnapshot).rows} == {"curl"}
    assert source.drilldown_refusal() == "a replay has no live process to drill into"
    note = source.spike(timeline)
    assert note.startswith("disk p99 spike 1/") and frozen_ts(timeline) is not None
    assert source.banner(timeline)[0].startswith("REPLAY ")
    assert not playing(replay)
    source.pause(timeline)  # plays on from the moment shown
    assert playing(replay) and frozen_ts(timeline) is None


def test_the_timeline_and_sources_need_no_textual() -> None:
    code = ("import sys, bpftop.model.timeline, bpftop.screens.sources; "
            "sys.exit('textual' in sys.modules)")  # fmt: skip
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_a_replay_refuses_filter_terms_only_the_live_box_can_check() -> None:
    with pytest.raises(FilterError, match="needs the live box"):
        ReplaySource(Replay([]), RecordingHeader()).parse_filter("dev=loop0")
    assert LiveSource(lambda sink, _settings: None).parse_filter("comm=x").comm == "x"  # type: ignore[arg-type,return-value]
