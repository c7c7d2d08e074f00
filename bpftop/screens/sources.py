"""Where the dashboard's records come from: the BPF engine (live) or a recording (a
replay). The app talks to a RecordSource alone and never asks which one it has (below
serves live and replay from the same models); what a key means in each lives here.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from concurrent.futures import Future
from typing import Protocol

from bpftop.core.commands import Command, Settings
from bpftop.core.filters import Filter, parse_filter
from bpftop.core.format import clock, span
from bpftop.core.records import Record, SystemSample
from bpftop.model.dashboard import DashboardSnapshot
from bpftop.model.replay import Replay
from bpftop.model.timeline import Timeline
from bpftop.outputs.recording import RecordingHeader

Sink = Callable[[Record], None]


class Controller(Protocol):
    """What a live source drives: the BPF engine (or a test's stand-in for it)."""

    def submit(self, command: Command) -> Future[None]: ...

    def stop(self) -> None: ...


# Starts an engine with the user's settings, sending its records to the sink.
StartEngine = Callable[[Sink, Settings], Controller]


def done() -> Future[None]:
    """A command with nothing to do here (no engine, or not yet): done at once."""
    future: Future[None] = Future()
    future.set_result(None)
    return future


class RecordSource(ABC):
    """One source of records, and the meaning of the time keys for it. Methods that
    move in time change the timeline and may return a line to tell the user.

    The source owns the user's settings (filter, disk threshold, exec failures, uprobe
    budget, target pid): the command line's at first, then what `submit` changes. The
    UI reads them here; an engine the source starts gets them before it attaches."""

    header: RecordingHeader  # the facts bundles and reports start with
    settings: Settings = Settings()
    _sink: Sink | None = None

    def connect(self, sink: Sink) -> None:
        """Where records go (live: called from the BPF thread). Cheap: before the
        first frame."""
        self._sink = sink

    def start(self) -> None:
        """Begin sending records: after the first frame is out (a recording plays at
        each refresh: nothing to begin)."""
        return None

    def stop(self) -> None:
        """Stop sending; detach whatever was attached. Safe to call twice."""
        return None

    @abstractmethod
    def now(self) -> float:
        """The time the dashboard shows."""

    @abstractmethod
    def refresh(self, timeline: Timeline) -> DashboardSnapshot | None:
        """Once per refresh interval: take the interval's frame; what to show (None:
        keep what is shown)."""

    # -- the probes (a recording has none: nothing to change) -----------------------
    @property
    def changes_probes(self) -> bool:
        """Whether the probe keys can change anything now."""
        return False

    def submit(self, command: Command) -> Future[None]:
        """Change a setting (kept here) or ask the probes for something; the future
        completes once the engine has applied it (at once where there is none)."""
        self.settings = self.settings.after(command)
        return done()

    @abstractmethod
    def parse_filter(self, text: str) -> Filter:
        """The filter bar's text, checked against what this source can match."""

    def drilldown_refusal(self) -> str | None:
        """Why a drilldown cannot open here (None: it can)."""
        return None

    # -- time ---------------------------------------------------------------------
    @abstractmethod
    def pause(self, timeline: Timeline) -> None:
        """p: freeze or go on (live: the display; a replay: the playing)."""

    def step(self, timeline: Timeline, frames: int) -> None:
        """[ ] { }: refreshes back or forward in the history."""
        timeline.step(frames)

    def spike(self, timeline: Timeline) -> str:
        """!: the worst disk p99 in the history, then the next one down."""
        return timeline.next_spike()

    @abstractmethod
    def moment_anchor(self, timeline: Timeline) -> float | None:
        """What `g`'s -5m counts back from (None: nothing to go to yet)."""

    @abstractmethod
    def go_to(self, timeline: Timeline, ts: float) -> str | None:
        """g: the moment `ts`, or the nearest there is (and a line saying so)."""

    @abstractmethod
    def seek_by(self, timeline: Timeline, seconds: float) -> None:
        """< >: `seconds` back or forward."""

    def speed(self, steps: int) -> str | None:
        """Faster or slower; a line if this source has no speed."""
        return "speed is for replays (bpftop --replay FILE)"

    @abstractmethod
    def banner(self, timeline: Timeline, rewind_keys: str = "") -> list[str]:
        """What the header says about time: REC, REPLAY, PAUSED or REWIND (followed by
        `rewind_keys`, the keys that step and go back to live)."""


class LiveSource(RecordSource):
    """The BPF engine, started once the first frame is out."""

    def __init__(
        self,
        start_engine: StartEngine,
        *,
        settings: Settings | None = None,
        header: RecordingHeader | None = None,
        clock: Callable[[], float] = time.time,
        sample_system: Callable[[], SystemSample] | None = None,
        recording: bool = False,  # --record writes every record: REC in the header
    ) -> None:
        self.header = header or RecordingHeader()
        self.settings = settings or Settings()
        self.controller: Controller | None = None
        self._start_engine = start_engine
        self._clock = clock
        self._sample_system = sample_system
        self._recording = recording

    def start(self) -> None:
        assert self._sink is not None, "connect() first"
        self.controller = self._start_engine(self._sink, self.settings)

    @property
    def changes_probes(self) -> bool:
        return self.controller is not None  # not before it started, nor after it stopped

    def stop(self) -> None:
        controller, self.controller = self.controller, None
        if controller is not None:
            controller.stop()

    def now(self) -> float:
        return self._clock()

    def refresh(self, timeline: Timeline) -> DashboardSnapshot | None:
        if self._sample_system is not None and self._sink is not None:
            self._sink(self._sample_system())
        snap = timeline.take_frame(self._clock())
        return snap if timeline.frozen is None else None  # frozen: the frame stays

    def submit(self, command: Command) -> Future[None]:
        super().submit(command)
        if self.controller is None:  # not started: start() gives it the settings
            return done()
        return self.controller.submit(command)

    def parse_filter(self, text: str) -> Filter:
        return parse_filter(text)

    # Live, every time key moves within the frames already shown; the probes keep
    # counting underneath.
    def pause(self, timeline: Timeline) -> None:
        timeline.freeze_or_thaw()

    def moment_anchor(self, timeline: Timeline) -> float | None:
        newest = timeline.history.newest
        return newest.ts if newest is not None else None

    def go_to(self, timeline: Timeline, ts: float) -> str | None:
        return timeline.go_to(ts)

    def seek_by(self, timeline: Timeline, seconds: float) -> None:
        timeline.step(-10 if seconds < 0 else 10)

    def banner(self, timeline: Timeline, rewind_keys: str = "") -> list[str]:
        out = ["REC"] if self._recording else []
        if rewind := timeline.rewind_banner():
            out.append(f"{rewind} {rewind_keys}".rstrip())
        elif timeline.frozen is not None and timeline.history.newest is not None:
            out.append(f"PAUSED {clock(timeline.frozen.ts)}")
        return out


class ReplaySource(RecordSource):
    """A recording, played at a speed; `g` and `<` `>` seek the recording itself, and
    going back rebuilds the models from its start."""

    def __init__(self, replay: Replay, header: RecordingHeader) -> None:
        self.replay = replay
        self.header = header
        self._played_at = time.monotonic()

    def now(self) -> float:
        return self.replay.position

    def refresh(self, timeline: Timeline) -> DashboardSnapshot:
        now = time.monotonic()
        self.play(timeline, self.replay.advance(now - self._played_at))
        self._played_at = now
        return timeline.shown()  # paused: the header's REPLAY part shows it

    def parse_filter(self, text: str) -> Filter:
        # Terms are checked against the recording, not the box.
        return parse_filter(text, replay=True)

    def drilldown_refusal(self) -> str | None:
        return "a replay has no live process to drill into"

    def seek(self, timeline: Timeline, ts: float) -> None:
        restart, records = self.replay.seek(ts)
        if restart:
            timeline.reset()
        self.play(timeline, records)
        timeline.view(None)

    def play(self, timeline: Timeline, records: list[Record]) -> None:
        """Apply replayed records, taking a frame at every recording interval they pass
        (however fast it plays or far it seeks), so rewinding and spikes work on a
        replay as they do live."""
        step = self.header.interval_s
        history = timeline.history
        newest = history.newest
        next_at = (newest.ts if newest else self.replay.start) + step
        for record in records:
            if record.ts - next_at > history.window_s:  # a long gap: frames of nothing
                next_at += (record.ts - next_at - history.window_s) // step * step
            while record.ts > next_at:
                timeline.take_frame(next_at)
                next_at += step
            # The filter is applied here: there is no kernel to do it.
            if self._sink is not None and self.settings.filter.keeps(record):
                self._sink(record)
        while self.replay.position >= next_at:
            timeline.take_frame(next_at)
            next_at += step

    def pause(self, timeline: Timeline) -> None:
        if timeline.frozen is not None:  # play on from the moment shown
            self.seek(timeline, timeline.frozen.ts)
            self.replay.playing = True
        else:
            self.replay.playing = not self.replay.playing
        timeline.view(None)

    def step(self, timeline: Timeline, frames: int) -> None:
        if timeline.frozen or timeline.history.newest:
            self.replay.playing = False
        timeline.step(frames)

    def spike(self, timeline: Timeline) -> str:
        if not self.replay.finished:
            self.seek(timeline, self.replay.end)  # look for spikes in the whole recording
        note = timeline.next_spike()
        if timeline.frozen is not None:
            self.replay.playing = False
        return note

    def moment_anchor(self, timeline: Timeline) -> float | None:
        return self.replay.end

    def go_to(self, timeline: Timeline, ts: float) -> str | None:
        start, end = self.replay.start, self.replay.end
        note = None
        if not start <= ts <= end:
            note = (f"the recording covers {clock(start)} to {clock(end)}: "
                    f"showing {clock(min(max(ts, start), end))}")  # fmt: skip
        self.seek(timeline, ts)
        return note

    def seek_by(self, timeline: Timeline, seconds: float) -> None:
        self.seek(timeline, self.replay.position + seconds)

    def speed(self, steps: int) -> str | None:
        self.replay.faster(steps)
        return None

    def banner(self, timeline: Timeline, rewind_keys: str = "") -> list[str]:
        r = self.replay
        state = "end" if r.finished else (f"{r.speed:g}x" if r.playing else "paused")
        out = [f"REPLAY {clock(r.position)} {state} "
               f"{span(r.position - r.start)}/{span(r.end - r.start)}"]  # fmt: skip
        if rewind := timeline.rewind_banner():
            out.append(f"{rewind} {rewind_keys}".rstrip())
        return out
