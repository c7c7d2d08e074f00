"""Disk pane model: the last interval per device, a window of recent intervals for
the histogram and the process table, a p99 history, and the recent slow I/Os."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import ClassVar

from bpftop.core.format import latency_us, size
from bpftop.core.histogram import Bucket, merge
from bpftop.core.records import DiskProcRecord, DiskRecord, ProbeCounts, SlowIoRecord
from bpftop.model.pane_model import SPARK_KEPT, PidEvent
from bpftop.model.rates import IntervalRate, RateSnapshot
from bpftop.model.silence import forget_silent

WINDOW_INTERVALS = 5  # the histogram and process table cover this many intervals
P99_HISTORY = 300  # intervals of p99 kept for the sparkline (5 min at 1 s)


@dataclass(frozen=True)
class DeviceView:
    last: DiskRecord  # the last interval
    window_hist: tuple[Bucket, ...]  # latency over the window
    p99_history: tuple[float | None, ...]  # oldest first; None: no I/O that interval


@dataclass(frozen=True)
class ProcView:
    pid: int | None
    comm: str | None
    dev: str
    reads: int
    writes: int
    read_bytes: int
    write_bytes: int
    avg_lat_us: float | None
    slow: int


@dataclass(frozen=True)
class DiskSnapshot:
    devices: tuple[DeviceView, ...]  # busy ones first, then by name
    procs: tuple[ProcView, ...]  # summed over the window
    window_s: float
    slow: tuple[SlowIoRecord, ...]  # newest last
    ios: RateSnapshot

    def pid_events(self, pid: int) -> list[PidEvent]:
        """Its slow I/Os, and what it did to each device over the window (first)."""
        out = [PidEvent(s.ts, "slow io", f"{s.dev} {s.op} {size(s.bytes)} {latency_us(s.lat_us)}")
               for s in self.slow if s.pid == pid]  # fmt: skip
        for p in self.procs:
            if p.pid == pid:
                detail = (
                    f"{p.dev} reads {p.reads} writes {p.writes} "
                    f"{size(p.read_bytes + p.write_bytes)} avg {latency_us(p.avg_lat_us)}"
                )
                out.append(PidEvent(0.0, "disk", detail, when=f"{self.window_s:.0f}s"))
        return out

    def trimmed(self, keep: int) -> DiskSnapshot:
        devices = tuple(replace(d, p99_history=d.p99_history[-SPARK_KEPT:]) for d in self.devices)
        return replace(self, slow=self.slow[-keep:], devices=devices)


class _Device:
    def __init__(self, first: DiskRecord) -> None:
        self.last = first
        self.hists: deque[tuple[Bucket, ...]] = deque(maxlen=WINDOW_INTERVALS)
        self.p99: deque[float | None] = deque(maxlen=P99_HISTORY)

    def add(self, record: DiskRecord) -> None:
        self.last = record
        self.hists.append(record.hist)
        self.p99.append(record.lat_us.p99 if record.lat_us else None)

    def view(self) -> DeviceView:
        return DeviceView(self.last, merge(*self.hists), tuple(self.p99))


class DiskModel:
    records: ClassVar[tuple[type, ...]] = (DiskRecord, DiskProcRecord, SlowIoRecord)

    def __init__(self, keep_slow: int = 500) -> None:
        self._devices: dict[str, _Device] = {}
        # One entry per interval: (ts, length, that interval's process records).
        self._proc_intervals: deque[tuple[float, float, list[DiskProcRecord]]] = deque(
            maxlen=WINDOW_INTERVALS
        )
        self._slow: deque[SlowIoRecord] = deque(maxlen=keep_slow)
        self._ios = IntervalRate()

    def apply(self, record: DiskRecord | DiskProcRecord | SlowIoRecord) -> None:
        match record:
            case DiskRecord():
                self.add_device(record)
            case DiskProcRecord():
                self.add_proc(record)
            case SlowIoRecord():
                self.add_slow(record)

    def add_device(self, record: DiskRecord) -> None:
        if record.dev not in self._devices:
            self._devices[record.dev] = _Device(record)
        self._devices[record.dev].add(record)
        forget_silent(self._devices, record.ts)  # a detached device leaves the pane

    def add_proc(self, record: DiskProcRecord) -> None:
        if not self._proc_intervals or self._proc_intervals[-1][0] != record.ts:
            self._proc_intervals.append((record.ts, record.interval_s, []))
        self._proc_intervals[-1][2].append(record)

    def add_slow(self, record: SlowIoRecord) -> None:
        self._slow.append(record)

    def retain(self, keep: Callable[[object], bool]) -> None:
        """Drop what a new filter excludes: devices, processes, slow I/Os."""
        self._devices = {dev: d for dev, d in self._devices.items() if keep(d.last)}
        self._slow = deque(filter(keep, self._slow), maxlen=self._slow.maxlen)
        for _ts, _length, records in self._proc_intervals:
            records[:] = filter(keep, records)

    def add_counts(self, counts: ProbeCounts) -> None:
        self._ios.add(counts.counts.get("ios", 0), counts.interval_s)

    def snapshot(self) -> DiskSnapshot:
        # Stable order (rows must not jump every second): busy devices first, by name.
        devices = sorted(
            (d.view() for d in self._devices.values()),
            key=lambda v: (not v.window_hist and v.last.ios == 0, v.last.dev),
        )
        return DiskSnapshot(
            devices=tuple(devices),
            procs=self._procs(),
            window_s=sum(length for _, length, _ in self._proc_intervals),
            slow=tuple(self._slow),
            ios=self._ios.snapshot(),
        )

    def _procs(self) -> tuple[ProcView, ...]:
        sums: dict[tuple[int | None, str | None, str], list[int]] = {}
        lat: dict[tuple[int | None, str | None, str], list[float]] = {}
        for _, _, records in self._proc_intervals:
            for r in records:
                key = (r.pid, r.comm, r.dev)
                row = sums.setdefault(key, [0, 0, 0, 0, 0])
                row[0] += r.reads
                row[1] += r.writes
                row[2] += r.read_bytes
                row[3] += r.write_bytes
                row[4] += r.slow
                if r.avg_lat_us is not None:
                    # weight each interval's average by its I/O count
                    weights = lat.setdefault(key, [0.0, 0.0])
                    weights[0] += r.avg_lat_us * (r.reads + r.writes)
                    weights[1] += r.reads + r.writes
        out = []
        for (pid, comm, dev), (reads, writes, rb, wb, slow) in sums.items():
            total, n = lat.get((pid, comm, dev), (0.0, 0.0))
            avg = round(total / n, 1) if n else None
            out.append(ProcView(pid, comm, dev, reads, writes, rb, wb, avg, slow))
        out.sort(key=lambda p: -(p.read_bytes + p.write_bytes))
        return tuple(out)
