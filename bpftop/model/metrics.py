"""Running totals for `bpftop --serve`'s /metrics, from the interval records.

Every number here comes from a kernel-side counter or histogram (ProbeCounts,
DiskRecord, DenialGroupRecord, XdpRecord): the records carry the interval's change of
those counters, so adding them up gives the kernel's exact totals since bpftop
started, whatever the event stream lost. Event records (one exec, one connection)
are not counted here.

`add` runs on the BPF thread and `snapshot` on a scrape's thread: one lock, held for a
few dictionary updates or one copy, so a slow scrape never holds up the BPF thread.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from bpftop.core.records import (
    DenialGroupRecord,
    DiskRecord,
    ProbeCounts,
    ProbeStatus,
    Record,
    XdpRecord,
)

# Upper bounds of the latency histogram, in microseconds: every power of two is an
# edge of the kernel's buckets (bpftop.core.histogram), so these counts are exact.
LATENCY_BOUNDS_US: tuple[int, ...] = tuple(1 << k for k in range(25))  # 1 us .. 16.8 s
MAX_COMMS = 50  # --metrics-labels comm: distinct comm label values, the rest are "other"
OTHER_COMM = "other"
# A device or interface not reported for this long leaves /metrics (loop devices and
# container veths come and go; their series should not pile up in a daemon).
FORGET_AFTER_S = 600.0

# The connect probe's counters as (direction, result) series.
TCP_SERIES = (
    ("out", "established", "out_established"),
    ("out", "refused", "out_refused"),
    ("out", "timeout", "out_timeout"),
    ("out", "aborted", "out_aborted"),
    ("out", "error", "out_error"),
    ("in", "established", "in_established"),
)


@dataclass
class LatencyTotals:
    """A cumulative latency histogram: counts at or below each bound, and beyond."""

    buckets: list[int]  # per LATENCY_BOUNDS_US, not yet cumulative
    above: int = 0  # slower than the last bound
    sum_us: float = 0.0

    @property
    def count(self) -> int:
        return sum(self.buckets) + self.above

    def copy(self) -> LatencyTotals:
        return LatencyTotals(list(self.buckets), self.above, self.sum_us)

    def cumulative(self) -> list[int]:
        out, running = [], 0
        for n in self.buckets:
            running += n
            out.append(running)
        return out


@dataclass
class DiskOpSeries:
    ios: int = 0
    bytes: int = 0
    latency: LatencyTotals | None = None


@dataclass(frozen=True)
class MetricsSnapshot:
    """A copy of everything /metrics shows, taken under the lock."""

    probes: dict[str, tuple[str, str]]  # probe -> (state, via)
    counters: dict[tuple[str, str], int]  # (probe, counter) -> total
    lost: dict[str, int]
    bpf_run_ns: dict[str, int]
    stats_seconds: dict[str, float]  # seconds over which bpf_run_ns was measured
    disk: dict[tuple[str, str], DiskOpSeries]  # (device, op)
    denials: dict[tuple[str, str, str], int]  # (syscall, errno, comm or "")
    xdp: dict[tuple[str, str, str], int]  # (ifname, action, source)


class MetricTotals:
    def __init__(
        self,
        probes: Iterable[str],
        *,
        comm_labels: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self._comm_labels = comm_labels
        # Until its first status a probe is waiting for its turn to attach.
        self._probes: dict[str, tuple[str, str]] = {name: ("attaching", "") for name in probes}
        self._counters: dict[tuple[str, str], int] = {}
        self._lost: dict[str, int] = {}
        self._bpf_run_ns: dict[str, int] = {}
        self._stats_seconds: dict[str, float] = {}
        self._disk: dict[tuple[str, str], DiskOpSeries] = {}
        self._denials: dict[tuple[str, str, str], int] = {}
        self._comms: set[str] = set()
        self._xdp: dict[tuple[str, str, str], int] = {}
        self._seen: dict[tuple[str, str], float] = {}  # ("disk"|"xdp", name) -> last seen

    def add(self, record: Record) -> None:
        with self._lock:
            match record:
                case ProbeStatus():
                    via = record.via or self._probes.get(record.probe, ("", ""))[1]
                    self._probes[record.probe] = (record.state, via)
                case ProbeCounts():
                    self._add_counts(record)
                case DiskRecord():
                    self._add_disk(record)
                case DenialGroupRecord():
                    key = (record.syscall, record.errno, self._comm_label(record.comm))
                    self._denials[key] = self._denials.get(key, 0) + record.count
                case XdpRecord():
                    self._add_xdp(record)
                case _:
                    pass

    def _add_counts(self, record: ProbeCounts) -> None:
        for name, delta in record.counts.items():
            key = (record.probe, name)
            self._counters[key] = self._counters.get(key, 0) + delta
        self._lost[record.probe] = self._lost.get(record.probe, 0) + record.lost
        if record.bpf_ns is not None:
            self._bpf_run_ns[record.probe] = self._bpf_run_ns.get(record.probe, 0) + record.bpf_ns
            seconds = self._stats_seconds.get(record.probe, 0.0) + record.interval_s
            self._stats_seconds[record.probe] = seconds

    def _add_disk(self, record: DiskRecord) -> None:
        self._seen[("disk", record.dev)] = self._clock()
        for totals in record.by_op:
            series = self._disk.setdefault((record.dev, totals.op), DiskOpSeries())
            series.ios += totals.ios
            series.bytes += totals.bytes
            if totals.hist:
                if series.latency is None:
                    series.latency = LatencyTotals([0] * len(LATENCY_BOUNDS_US))
                _add_buckets(series.latency, totals.hist, totals.latency_us)
        self._forget_quiet("disk", self._disk)

    def _add_xdp(self, record: XdpRecord) -> None:
        self._seen[("xdp", record.ifname)] = self._clock()
        if record.source is not None and record.actions is not None:
            for action, count in record.actions.items():
                if count is not None:
                    key = (record.ifname, action, record.source)
                    self._xdp[key] = self._xdp.get(key, 0) + count
        self._forget_quiet("xdp", self._xdp)

    def _forget_quiet(self, kind: str, table: dict) -> None:  # type: ignore[type-arg]
        now = self._clock()
        gone = {name for (k, name), seen in self._seen.items()
                if k == kind and now - seen > FORGET_AFTER_S}  # fmt: skip
        if gone:
            for key in [key for key in table if key[0] in gone]:
                del table[key]
            for name in gone:
                del self._seen[(kind, name)]

    def _comm_label(self, comm: str) -> str:
        """Bounded cardinality: without comm labels, one series per (syscall, errno);
        with them, the first MAX_COMMS comms denied get their own series and the rest
        share "other" (a counter never moves between series, so none goes down)."""
        if not self._comm_labels:
            return ""
        if comm in self._comms:
            return comm
        if len(self._comms) < MAX_COMMS and comm != OTHER_COMM:
            self._comms.add(comm)
            return comm
        return OTHER_COMM

    def snapshot(self) -> MetricsSnapshot:
        with self._lock:
            return MetricsSnapshot(
                probes=dict(self._probes),
                counters=dict(self._counters),
                lost=dict(self._lost),
                bpf_run_ns=dict(self._bpf_run_ns),
                stats_seconds=dict(self._stats_seconds),
                disk={
                    key: DiskOpSeries(s.ios, s.bytes, s.latency and s.latency.copy())
                    for key, s in self._disk.items()
                },
                denials=dict(self._denials),
                xdp=dict(self._xdp),
            )


def _add_buckets(
    totals: LatencyTotals, hist: Iterable[tuple[float, float, int]], sum_us: float
) -> None:
    """Each kernel bucket [low, high) goes under the first bound >= high: exact, as
    every bound is an edge of the kernel's buckets."""
    for _low, high, count in hist:
        for index, bound in enumerate(LATENCY_BOUNDS_US):
            if high <= bound:
                totals.buckets[index] += count
                break
        else:
            totals.above += count
    totals.sum_us += sum_us
