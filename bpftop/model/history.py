"""The rewind ring: one frame per refresh for the last N minutes.

A frame is the dashboard snapshot the panes rendered (immutable, sharing its records
with the other frames) plus the records that arrived during its interval, which the
incident bundle writes out as a recording. Memory is bounded twice: frames older
than the window go, and past a budget of event records (execs, connections, denials,
slow I/Os) the oldest frames give up their events. Their snapshots and their aggregate
records (counts, disk histograms, denial groups, CPU, XDP) stay: rewinding still works,
and a bundle covers the whole window for them (records.is_event)."""

from __future__ import annotations

import dataclasses
from collections import deque
from collections.abc import Callable, Iterator

from bpftop.core.records import ProbeStatus, Record, is_event
from bpftop.model.dashboard import DashboardSnapshot

DEFAULT_MINUTES = 10.0
MAX_EVENTS = 60_000  # with the frames, ~26-52 MiB under storms (docs/benchmarks.md)
# Aggregates are a few dozen a second (10 minutes: ~25k); this bounds a pathological
# case (thousands of denial groups changing every second). Past it the oldest frames
# give up all their records, and a bundle's report says where they start.
MAX_AGGREGATES = 200_000
# A frame keeps each pane's snapshot trimmed (PaneSnapshot.trimmed): each event list cut
# to its newest ROWS_KEPT rows, sparklines to what a pane draws: ~10 KB plus its rows.
ROWS_KEPT = 25  # per list in a frame: more than a pane shows at 120x40


@dataclasses.dataclass(slots=True)
class Frame:
    seq: int  # 0 for the first frame ever; never reused
    snapshot: DashboardSnapshot
    records: tuple[Record, ...]  # as they arrived; the aggregates alone once events_dropped
    events: int  # how many of `records` are events
    events_dropped: bool = False  # given up to the event budget

    @property
    def ts(self) -> float:
        return self.snapshot.ts


class History:
    def __init__(
        self,
        minutes: float = DEFAULT_MINUTES,
        max_events: int = MAX_EVENTS,
        max_aggregates: int = MAX_AGGREGATES,
    ) -> None:
        self.window_s = minutes * 60.0
        self.max_events = max_events
        self.max_aggregates = max_aggregates
        self._frames: deque[Frame] = deque()
        self._pending: list[Record] = []  # arrived since the last frame
        self._kept_events = 0
        self._kept_aggregates = 0
        self._next_seq = 0
        # The newest status of every probe, so a bundle's recording says how each attached.
        self.statuses: dict[str, ProbeStatus] = {}

    def add_record(self, record: Record) -> None:
        self._pending.append(record)
        if isinstance(record, ProbeStatus):
            self.statuses[record.probe] = record

    def add_frame(self, snapshot: DashboardSnapshot) -> Frame:
        records, self._pending = tuple(self._pending), []
        events = sum(1 for r in records if is_event(r))
        frame = Frame(self._next_seq, snapshot.trimmed(ROWS_KEPT), records, events)
        self._next_seq += 1
        self._frames.append(frame)
        self._kept_events += events
        self._kept_aggregates += len(records) - events
        while self._frames[0].ts < frame.ts - self.window_s:
            self._forget(self._frames.popleft())
        for old in self._frames:
            if self._kept_events <= self.max_events or old is frame:
                break
            if not old.events_dropped:
                self._kept_events -= old.events
                old.records = tuple(r for r in old.records if not is_event(r))
                old.events, old.events_dropped = 0, True
        for old in self._frames:
            if self._kept_aggregates <= self.max_aggregates or old is frame:
                break
            self._forget(old)
            old.records, old.events, old.events_dropped = (), 0, True
        return frame

    def _forget(self, frame: Frame) -> None:
        self._kept_events -= frame.events
        self._kept_aggregates -= len(frame.records) - frame.events

    def __len__(self) -> int:
        return len(self._frames)

    @property
    def kept_events(self) -> int:
        return self._kept_events

    @property
    def newest(self) -> Frame | None:
        return self._frames[-1] if self._frames else None

    @property
    def oldest(self) -> Frame | None:
        return self._frames[0] if self._frames else None

    def step(self, seq: int, delta: int) -> Frame | None:
        """The frame `delta` frames after frame `seq` (before, if negative), held at the
        ends; a frame that left the window counts from the oldest."""
        if not self._frames:
            return None
        index = max(0, seq - self._frames[0].seq) + delta
        return self._frames[min(max(index, 0), len(self._frames) - 1)]

    def at_time(self, ts: float) -> Frame | None:
        """The newest frame at or before `ts` (the oldest, if `ts` is before them all)."""
        chosen = self.oldest
        for frame in self._frames:
            if frame.ts > ts:
                break
            chosen = frame
        return chosen

    def spikes(self, metric: Callable[[DashboardSnapshot], float | None]) -> list[Frame]:
        """Frames where `metric` peaks (higher than both neighbours), highest first."""
        values = [metric(f.snapshot) for f in self._frames]
        peaks = []
        for i, value in enumerate(values):
            if value is None:
                continue
            before = values[i - 1] if i > 0 else None
            after = values[i + 1] if i + 1 < len(values) else None
            if (before is None or value > before) and (after is None or value >= after):
                peaks.append((value, -i, self._frames[i]))
        return [frame for _, _, frame in sorted(peaks, key=lambda p: (p[0], p[1]), reverse=True)]

    def records(self) -> Iterator[Record]:
        """Every record still kept, oldest first (the bundle's recording)."""
        for frame in self._frames:
            yield from frame.records
        yield from self._pending

    def events_since(self) -> float | None:
        """From when every event is kept: the end of the newest frame that gave its
        events up (None: none in the window did, the events cover it all)."""
        dropped = [frame.ts for frame in self._frames if frame.events_dropped]
        return dropped[-1] if dropped else None
