"""The dashboard's models, their history, and which moment is on screen: a plain
object (no Textual), shared by the app, the record sources and the tests.

Records arrive on the BPF thread (`add`); everything else runs on the UI thread. The
lock keeps a snapshot from seeing half an update.
"""

from __future__ import annotations

import contextlib
import re
import threading
import time
from collections.abc import Callable, Iterator

from bpftop.core.filters import Filter
from bpftop.core.format import clock, span
from bpftop.core.records import Record
from bpftop.model.dashboard import Dashboard, DashboardSnapshot
from bpftop.model.disks import DiskSnapshot
from bpftop.model.history import DEFAULT_MINUTES, Frame, History

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
    """The spike `!` jumps to: the highest p99 of any device in that interval."""
    values = [
        d.last.lat_us.p99 for d in snapshot.view("disk", DiskSnapshot).devices if d.last.lat_us
    ]
    return max(values, default=None)


class Timeline:
    def __init__(
        self,
        new_dashboard: Callable[[], Dashboard],
        *,
        clock: Callable[[], float],
        history_minutes: float = DEFAULT_MINUTES,
        user_filter: Filter | None = None,
    ) -> None:
        self.clock = clock  # the time the dashboard shows: now, or a replay's position
        self.history_minutes = history_minutes
        self.user_filter = user_filter or Filter()
        self._new_dashboard = new_dashboard  # catalog.new_dashboard, for the session's probes
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        """Empty models and history: at start, and when a replay seeks backwards."""
        with self._lock:
            self.dashboard = self._new_dashboard()
            self.dashboard.set_filter(self.user_filter)
            self.history = History(self.history_minutes)
            self.frozen: Frame | None = None
            self.rewound = False  # frozen by moving back in time, not by pausing

    @contextlib.contextmanager
    def models(self) -> Iterator[Dashboard]:
        """The models, held against the BPF thread's updates."""
        with self._lock:
            yield self.dashboard

    def add(self, record: Record) -> None:
        with self._lock:
            self.dashboard.apply(record)
            self.history.add_record(record)

    def set_filter(self, user_filter: Filter) -> None:
        with self._lock:
            self.user_filter = user_filter
            self.dashboard.set_filter(user_filter)

    def snapshot(self) -> DashboardSnapshot:
        with self._lock:
            return self.dashboard.snapshot(self.clock())

    def take_frame(self, ts: float) -> DashboardSnapshot:
        """The models as they are, into the history as the frame at `ts`."""
        with self._lock:
            snap = self.dashboard.snapshot(ts)
            self.history.add_frame(snap)
            return snap

    def shown(self) -> DashboardSnapshot:
        """What is on screen: the frozen frame, or the models now."""
        return self.frozen.snapshot if self.frozen else self.snapshot()

    # -- moving through the history (the same live and in a replay) -----------------
    def view(self, frame: Frame | None, *, rewound: bool = True) -> None:
        """Freeze on `frame`; None goes back to live (or to playing)."""
        self.frozen = frame
        self.rewound = rewound and frame is not None

    def freeze_or_thaw(self) -> None:
        """Pause live: freeze on the newest frame, or go back to live."""
        if self.frozen is None and self.history.newest is None:
            self.take_frame(self.clock())  # before the first refresh: freeze what is there
        self.view(self.history.newest if self.frozen is None else None, rewound=False)

    def step(self, frames: int) -> bool:
        """`frames` refreshes from the one shown; False: no history yet."""
        base = self.frozen or self.history.newest
        if base is None:
            return False
        self.view(self.history.step(base.seq, frames))
        return True

    def next_spike(self) -> str:
        """Freeze on the worst disk p99 in the history, or on the next one down from the
        one shown (pressing again); says which."""
        spikes = self.history.spikes(worst_disk_p99)
        if not spikes:
            return "no disk latency in the history yet"
        current = self.frozen.seq if self.frozen is not None else None
        seqs = [f.seq for f in spikes]
        index = seqs.index(current) + 1 if current in seqs else 0
        frame = spikes[index % len(spikes)]
        self.view(frame)
        p99 = worst_disk_p99(frame.snapshot) or 0.0
        return f"disk p99 spike {index % len(spikes) + 1}/{len(spikes)}: {p99 / 1000:.1f} ms"

    def go_to(self, ts: float) -> str | None:
        """Freeze on the frame nearest `ts`; beyond the history, says how far it reaches."""
        oldest, newest = self.history.oldest, self.history.newest
        note = None
        if oldest is not None and newest is not None and not oldest.ts <= ts <= newest.ts:
            reach = f"{clock(oldest.ts)} ({span(newest.ts - oldest.ts)})"
            note = f"the history reaches back to {reach}: showing the nearest"
        frame = self.history.at_time(ts)
        if frame is not None:
            self.view(frame)
        return note

    def rewind_banner(self) -> str | None:
        """REWIND and how far behind, while moved back in time (the source adds the keys)."""
        newest = self.history.newest
        if self.frozen is None or newest is None or not self.rewound:
            return None
        behind = span(newest.ts - self.frozen.ts)
        return f"REWIND {clock(self.frozen.ts)} -{behind}"
