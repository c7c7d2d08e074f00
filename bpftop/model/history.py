"""The rewind ring: one frame per refresh for the last N minutes.

A frame is the dashboard snapshot the panes rendered (immutable, sharing its records
with the other frames) plus the records that arrived during its interval, which the
incident bundle writes out as a recording. Memory is bounded twice: frames older
than the window go, and past a total record budget the oldest frames give up their
records (their snapshots stay, so rewinding still works)."""

from __future__ import annotations

import dataclasses
from collections import deque
from collections.abc import Callable, Iterator

from bpftop.model.dashboard import DashboardSnapshot
from bpftop.records import ProbeStatus, Record

DEFAULT_MINUTES = 10.0
MAX_RECORDS = 60_000  # with the frames, ~26-52 MiB under storms (docs/benchmarks.md)
ROWS_KEPT = 25  # per list in a frame: more than a pane shows at 120x40
GROUPS_KEPT = 50  # failure groups per pane in a frame: as many as a pane shows
SPARK_KEPT = 32  # values per sparkline history in a frame: the widest a pane draws is 31


@dataclasses.dataclass(slots=True)
class Frame:
    seq: int  # 0 for the first frame ever; never reused
    snapshot: DashboardSnapshot
    records: tuple[Record, ...] | None  # None: given up to the record budget

    @property
    def ts(self) -> float:
        return self.snapshot.ts


def trimmed(snapshot: DashboardSnapshot, keep: int = ROWS_KEPT) -> DashboardSnapshot:
    """The snapshot with each event list cut to its newest `keep` rows and each sparkline
    history to what a pane can draw: a frame then costs ~10 KB plus its rows."""
    disks = snapshot.disks
    devices = tuple(dataclasses.replace(d, p99_history=d.p99_history[-SPARK_KEPT:])
                    for d in disks.devices)  # fmt: skip
    ifaces = tuple(dataclasses.replace(i, drop_history=i.drop_history[-SPARK_KEPT:])
                   for i in snapshot.xdp.ifaces)  # fmt: skip
    return dataclasses.replace(
        snapshot,
        execs=dataclasses.replace(
            snapshot.execs,
            rows=snapshot.execs.rows[-keep:],
            failures=snapshot.execs.failures[:GROUPS_KEPT],
        ),
        connects=dataclasses.replace(
            snapshot.connects,
            rows=snapshot.connects.rows[-keep:],
            failures=snapshot.connects.failures[:GROUPS_KEPT],
        ),
        denials=dataclasses.replace(
            snapshot.denials,
            rows=snapshot.denials.rows[-keep:],
            groups=snapshot.denials.groups[:GROUPS_KEPT],
        ),
        disks=dataclasses.replace(disks, slow=disks.slow[-keep:], devices=devices),
        xdp=dataclasses.replace(snapshot.xdp, ifaces=ifaces),
    )


class History:
    def __init__(self, minutes: float = DEFAULT_MINUTES, max_records: int = MAX_RECORDS) -> None:
        self.window_s = minutes * 60.0
        self.max_records = max_records
        self._frames: deque[Frame] = deque()
        self._pending: list[Record] = []  # arrived since the last frame
        self._kept_records = 0
        self._next_seq = 0
        # The newest status of every probe, so a bundle's recording says how each attached.
        self.statuses: dict[str, ProbeStatus] = {}

    def add_record(self, record: Record) -> None:
        self._pending.append(record)
        if isinstance(record, ProbeStatus):
            self.statuses[record.probe] = record

    def add_frame(self, snapshot: DashboardSnapshot) -> Frame:
        records, self._pending = tuple(self._pending), []
        frame = Frame(self._next_seq, trimmed(snapshot), records)
        self._next_seq += 1
        self._frames.append(frame)
        self._kept_records += len(records)
        while self._frames[0].ts < frame.ts - self.window_s:
            self._forget(self._frames.popleft())
        for old in self._frames:
            if self._kept_records <= self.max_records or old is frame:
                break
            self._forget(old)
            old.records = None
        return frame

    def _forget(self, frame: Frame) -> None:
        self._kept_records -= len(frame.records or ())

    def __len__(self) -> int:
        return len(self._frames)

    @property
    def kept_records(self) -> int:
        return self._kept_records

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
            yield from frame.records or ()
        yield from self._pending

    def records_since(self) -> float | None:
        """When the kept records start: the first frame that still has its records."""
        for i, frame in enumerate(self._frames):
            if frame.records is not None:
                return self._frames[i - 1].ts if i else frame.ts
        return None
