"""The top offenders of each pane over a span of records: the sections of the
incident bundle's report (bpftop/outputs/report.py), each named by its pane's descriptor
(bpftop/catalog.py). Counted from the records alone, so the report and the bundle's
recording always agree."""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from collections.abc import Iterable
from typing import Any

from bpftop.core.format import latency_us, size
from bpftop.core.records import (
    ConnectRecord,
    CpuRecord,
    DenialGroupRecord,
    DenialRecord,
    DiskProcRecord,
    DiskRecord,
    ExecRecord,
    ProbeCounts,
    Record,
    RunqRecord,
    SilentCapRecord,
    SlowIoRecord,
    XdpRecord,
)
from bpftop.model.connections import FAILURE_COUNTERS

TOP = 5


def _of(records: Iterable[Record], cls: type) -> list[Any]:
    return [r for r in records if isinstance(r, cls)]


def cpu(records: list[Record]) -> list[str]:
    """CPU seconds per comm over the recording (short-lived processes included: they
    were sampled in the kernel), and the worst interval of the run queue."""
    seconds: Counter[str] = Counter()
    for r in _of(records, CpuRecord):
        seconds[r.comm] += r.cpu_pct / 100 * r.interval_s
    out = [f"  {s:>7.1f}s  {comm}" for comm, s in seconds.most_common(TOP) if s >= 0.05]
    runq = [r for r in _of(records, RunqRecord) if r.p99_us is not None]
    if runq:
        worst = max(runq, key=lambda r: r.p99_us or 0.0)
        out.append(f"  run queue: worst p99 {latency_us(worst.p99_us)} "
                   f"at {time.strftime('%H:%M:%S', time.localtime(worst.ts))}")  # fmt: skip
    return out


def _counted(records: list[Record], probe: str, *names: str) -> int | None:
    """The kernel's count over the whole span (None: the probe sent no counts)."""
    counts = [r for r in _of(records, ProbeCounts) if r.probe == probe]
    return sum(c.counts.get(n, 0) for c in counts for n in names) if counts else None


def _counted_events(records: list[Record], probe: str, events: list[Any]) -> list[Any]:
    """The events the probe's counts cover: stamped after its first count record and up
    to its last. (The first one's interval began before the span, and events after the
    last one are counted by a record that is not in it.) All of them without counts."""
    stamps = [r.ts for r in _of(records, ProbeCounts) if r.probe == probe]
    if not stamps:
        return events
    return [r for r in events if stamps[0] < r.ts <= stamps[-1]]


def _counted_after_first(records: list[Record], probe: str, *names: str) -> int | None:
    """The kernel's count over the intervals after the probe's first count record: the
    same span as _counted_events."""
    counts = [r for r in _of(records, ProbeCounts) if r.probe == probe][1:]
    return sum(c.counts.get(n, 0) for c in counts for n in names) if counts else None


def execs(records: list[Record]) -> list[str]:
    execs = _of(records, ExecRecord)
    total = _counted_after_first(records, "exec", "ok", "failed")
    fails = _counted_after_first(records, "exec", "failed")
    if not execs and not total:
        return []
    by_comm = Counter(r.comm for r in execs)
    failed = Counter((r.filename or (r.argv[0] if r.argv else "?"), r.error) for r in execs
                     if r.error)  # fmt: skip
    if total is None:
        out = [f"  {len(execs):,} execs, {sum(failed.values()):,} failed in the events"]
    else:
        spanned = _counted_events(records, "exec", execs)
        n_failed = sum(1 for r in spanned if r.error)
        out = [
            f"  {len(spanned):,} execs, {n_failed:,} failed in the events; "
            f"{total:,} execs, {fails:,} failed counted over the whole span"
        ]
    out += [f"  {n:>8,}  by {comm}" for comm, n in by_comm.most_common(TOP)]
    out += [f"  {n:>8,}  failed {error}: {path}" for (path, error), n in failed.most_common(TOP)]
    return out


def connects(records: list[Record]) -> list[str]:
    conns = _of(records, ConnectRecord)
    if not conns and not _counted(records, "connect", "out_established", "in_established"):
        return []
    peers: Counter[str] = Counter()
    failures: Counter[tuple[str, str]] = Counter()
    slowest: dict[str, float] = {}
    for r in conns:
        peer = f"{r.daddr}:{r.dport}" if r.direction == "out" else f"{r.saddr}:{r.sport} (in)"
        peers[peer] += 1
        if r.result != "established":
            failures[(peer, r.outcome)] += 1
        if r.latency_us is not None:
            slowest[peer] = max(slowest.get(peer, 0.0), r.latency_us)
    opened = _counted_after_first(records, "connect", "out_established", "in_established")
    if opened is None:
        out = [f"  {len(conns):,} connections, {sum(failures.values()):,} failed in the events"]
    else:
        spanned = _counted_events(records, "connect", conns)
        n_failed = sum(1 for r in spanned if r.result != "established")
        failed = _counted_after_first(records, "connect", *FAILURE_COUNTERS)
        out = [
            f"  {len(spanned):,} connections, {n_failed:,} failed in the events; "
            f"{opened:,} established, {failed:,} failed counted over the whole span"
        ]
    out += [f"  {n:>8,}  to {peer}" for peer, n in peers.most_common(TOP)]
    out += [f"  {n:>8,}  {result} {peer}" for (peer, result), n in failures.most_common(TOP)]
    worst = sorted(slowest.items(), key=lambda kv: -kv[1])[:TOP]
    out += [f"  {latency_us(us):>8}  slowest connect to {peer}" for peer, us in worst]
    return out


def disks(records: list[Record]) -> list[str]:
    out = []
    worst: dict[str, tuple[float, float]] = {}  # dev -> (worst interval p99, max)
    ios: Counter[str] = Counter()
    for r in _of(records, DiskRecord):
        ios[r.dev] += r.ios
        if r.lat_us is not None:
            p99, top = worst.get(r.dev, (0.0, 0.0))
            worst[r.dev] = (max(p99, r.lat_us.p99), max(top, r.lat_us.max))
    for dev, (p99, top) in sorted(worst.items(), key=lambda kv: -kv[1][0])[:TOP]:
        out.append(f"  {dev:<10} worst p99 {latency_us(p99)}, max {latency_us(top)}, "
                   f"{ios[dev]:,} I/Os")  # fmt: skip
    moved: Counter[str] = Counter()
    for p in _of(records, DiskProcRecord):
        moved[f"{p.comm or 'unknown'} ({p.pid if p.pid is not None else '-'}) on {p.dev}"] += (
            p.read_bytes + p.write_bytes
        )
    out += [f"  {size(n):>8}  {who}" for who, n in moved.most_common(TOP)]
    slow = _of(records, SlowIoRecord)
    if slow:
        out.append(f"  {len(slow):,} slow I/Os reported; slowest:")
        for s in sorted(slow, key=lambda s: -s.lat_us)[:TOP]:
            out.append(f"  {latency_us(s.lat_us):>8}  {s.op} {s.dev} by {s.comm or 'unknown'}")
    return out


def denials(records: list[Record]) -> list[str]:
    groups: Counter[tuple[str, int, str, str]] = Counter()
    for g in _of(records, DenialGroupRecord):
        groups[(g.comm, g.uid, g.syscall, g.errno)] += g.count
    example: dict[tuple[str, int, str, str], str] = {}
    for d in _of(records, DenialRecord):
        example[(d.comm, d.uid, d.syscall, d.errno)] = d.path or d.addr or d.detail or ""
    out = [
        f"  {n:>8,}  {comm} (uid {uid}) {syscall} {errno} {example.get(key, '')}".rstrip()
        for key, n in groups.most_common(TOP)
        for comm, uid, syscall, errno in [key]
    ]
    silent: Counter[tuple[str, int, str, str]] = Counter()
    for s in _of(records, SilentCapRecord):
        silent[(s.comm, s.uid, s.syscall, s.cap)] += s.count
    out += [f"  {n:>8,}  {comm} (uid {uid}) {syscall}: {cap} refused, no syscall failed"
            for (comm, uid, syscall, cap), n in silent.most_common(TOP)]  # fmt: skip
    return out


def xdp(records: list[Record]) -> list[str]:
    # One interval of an interface may come from several sources (driver, bpftop's own
    # program): take the highest count, not the sum. The tracepoint counts only errors.
    per_interval: dict[tuple[str, float], int] = {}
    for r in _of(records, XdpRecord):
        if r.actions and r.source != "tracepoint":
            key = (r.ifname, r.ts)
            per_interval[key] = max(per_interval.get(key, 0), r.actions.get("drop") or 0)
    drops: defaultdict[str, int] = defaultdict(int)
    for (ifname, _ts), n in per_interval.items():
        drops[ifname] += n
    return [
        f"  {n:>8,}  dropped on {ifname}"
        for ifname, n in sorted(drops.items(), key=lambda kv: -kv[1])[:TOP]
        if n
    ]
