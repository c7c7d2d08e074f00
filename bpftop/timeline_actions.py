"""Moving through time: freeze, rewind through the history ring, jump to a moment
or a spike, and (on a recording) play, pause, speed and seek.

A mixin of BpftopApp. Live, every key moves within the frames already shown (the
probes keep counting underneath). On a replay, `g` and `<` `>` seek the recording
itself; going back rebuilds the models from the recording's start.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from textual.app import App

from bpftop.model.dashboard import Dashboard, DashboardSnapshot
from bpftop.model.history import Frame, History
from bpftop.panes.format import clock, span
from bpftop.panes.prompt import PromptScreen

if TYPE_CHECKING:
    import threading

    from bpftop.model.replay import Replay
    from bpftop.recording import RecordingHeader
    from bpftop.records import Record

MOMENT_HELP = "HH:MM:SS or HH:MM, or -90s / -5m / -1h (before now; a replay: before its end)"
_AGO = re.compile(r"-(\d+(?:\.\d+)?)([smh])")
_CLOCK = re.compile(r"(\d{1,2}):(\d{2})(?::(\d{2}))?")


def parse_moment(text: str, newest: float) -> float:
    """The wall-clock time `text` names, relative to the newest frame's `newest`."""
    text = text.strip()
    if m := _AGO.fullmatch(text):
        return newest - float(m[1]) * {"s": 1, "m": 60, "h": 3600}[m[2]]
    if m := _CLOCK.fullmatch(text):
        hour, minute, second = int(m[1]), int(m[2]), int(m[3] or 0)
        if hour < 24 and minute < 60 and second < 60:
            day = time.localtime(newest)
            return time.mktime((*day[:3], hour, minute, second, 0, 0, -1))
    raise ValueError(f"not a time: {text!r}; use {MOMENT_HELP}")


def worst_disk_p99(snapshot: DashboardSnapshot) -> float | None:
    """The spike `s` jumps to: the highest p99 of any device in that interval."""
    values = [d.last.lat_us.p99 for d in snapshot.disks.devices if d.last.lat_us]
    return max(values, default=None)


class TimelineActions(App[int]):
    """What BpftopApp provides to this mixin."""

    dashboard: Dashboard
    history: History
    frozen: Frame | None
    about: RecordingHeader
    rewound: bool
    replay: Replay | None
    _clock: Callable[[], float]  # wall-clock now (a replay's position when replaying)
    _lock: threading.Lock

    def show_snapshot(self, snapshot: DashboardSnapshot) -> None:
        raise NotImplementedError

    def render_snapshot(self) -> None:
        raise NotImplementedError

    def sink(self, record: Record) -> None:
        raise NotImplementedError

    def new_dashboard(self) -> None:
        raise NotImplementedError

    def view(self, frame: Frame | None, *, rewound: bool = True) -> None:
        """Freeze on `frame`; None goes back to live (or to playing)."""
        self.frozen = frame
        self.rewound = rewound and frame is not None
        if frame is None:
            self.render_snapshot()
        else:
            self.show_snapshot(frame.snapshot)

    def action_pause(self) -> None:
        if self.replay is not None:
            if self.frozen is not None:  # play on from the moment shown
                self.seek(self.frozen.ts)
                self.replay.playing = True
            else:
                self.replay.playing = not self.replay.playing
            self.view(None)
            return
        if self.frozen is None and self.history.newest is None:
            self.take_frame(self._clock())  # before the first refresh: freeze what is there
        self.view(self.history.newest if self.frozen is None else None, rewound=False)

    def action_step(self, frames: int) -> None:
        base = self.frozen or self.history.newest
        if base is None:
            return
        if self.replay is not None:
            self.replay.playing = False
        self.view(self.history.step(base.seq, frames))

    def action_spike(self) -> None:
        if self.replay is not None and not self.replay.finished:
            self.seek(self.replay.end)  # look for spikes in the whole recording
        spikes = self.history.spikes(worst_disk_p99)
        if not spikes:
            self.notify("no disk latency in the history yet")
            return
        # Highest first; pressing again goes on to the next one down.
        current = self.frozen.seq if self.frozen is not None else None
        seqs = [f.seq for f in spikes]
        index = seqs.index(current) + 1 if current in seqs else 0
        frame = spikes[index % len(spikes)]
        if self.replay is not None:
            self.replay.playing = False
        self.view(frame)
        p99 = worst_disk_p99(frame.snapshot) or 0.0
        self.notify(f"disk p99 spike {index % len(spikes) + 1}/{len(spikes)}: {p99 / 1000:.1f} ms")

    def action_goto(self) -> None:
        newest = self.history.newest
        if self.replay is not None:
            anchor = self.replay.end
        elif newest is not None:
            anchor = newest.ts
        else:
            return  # nothing to go to yet

        def go(text: str | None) -> None:
            if text:
                self.go_to(parse_moment(text, anchor))

        self.push_screen(PromptScreen(f"Go to: {MOMENT_HELP}", lambda t: parse_moment(t, anchor)),
                         go)  # fmt: skip

    def go_to(self, ts: float) -> None:
        """Go to `ts`; beyond what there is, to its edge, and say how far it reaches."""
        if self.replay is not None:
            start, end = self.replay.start, self.replay.end
            if not start <= ts <= end:
                self.notify(f"the recording covers {clock(start)} to {clock(end)}: "
                            f"showing {clock(min(max(ts, start), end))}", timeout=5)  # fmt: skip
            self.seek(ts)
            return
        oldest, newest = self.history.oldest, self.history.newest
        if oldest is not None and newest is not None and not oldest.ts <= ts <= newest.ts:
            reach = f"{clock(oldest.ts)} ({span(newest.ts - oldest.ts)})"
            self.notify(f"the history reaches back to {reach}: showing the nearest", timeout=5)
        frame = self.history.at_time(ts)
        if frame is not None:
            self.view(frame)

    # -- a recording -------------------------------------------------------------
    def action_speed(self, steps: int) -> None:
        if self.replay is None:
            self.notify("speed is for replays (bpftop --replay FILE)")
            return
        self.replay.faster(steps)
        self.render_snapshot()

    def action_seek(self, seconds: float) -> None:
        if self.replay is None:
            self.action_step(-10 if seconds < 0 else 10)
            return
        self.seek(self.replay.position + seconds)

    def seek(self, ts: float) -> None:
        assert self.replay is not None
        restart, records = self.replay.seek(ts)
        if restart:
            self.new_dashboard()
        self.play(records)
        self.frozen = None
        self.render_snapshot()

    def play(self, records: list[Record]) -> None:
        """Apply replayed records, taking a frame at every recording interval they pass
        (however fast it plays or far it seeks), so rewinding and spikes work on a
        replay as they do live."""
        assert self.replay is not None
        step = self.about.interval_s
        newest = self.history.newest
        next_at = (newest.ts if newest else self.replay.start) + step
        for record in records:
            if record.ts - next_at > self.history.window_s:  # a long gap: frames of nothing
                next_at += (record.ts - next_at - self.history.window_s) // step * step
            while record.ts > next_at:
                self.take_frame(next_at)
                next_at += step
            self.sink(record)
        while self.replay.position >= next_at:
            self.take_frame(next_at)
            next_at += step

    def take_frame(self, ts: float) -> None:
        with self._lock:
            self.history.add_frame(self.dashboard.snapshot(ts))
