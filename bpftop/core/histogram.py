"""Latency histograms as bpf/disk.c buckets them, and percentiles from them.

Buckets are in microseconds: exact below 4 us, then four per power of two, so a
bucket is at most 25% wider than its low edge. A percentile is interpolated
inside its bucket and never reported above the exact maximum the kernel saw.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

SUB_BUCKETS = 4

Bucket = tuple[float, float, int]  # (low_us, high_us, count), high exclusive


def bucket_bounds(index: int) -> tuple[int, int]:
    """[low, high) in microseconds of bucket `index` (the inverse of latency_bucket)."""
    if index < SUB_BUCKETS:
        return index, index + 1
    power = index // SUB_BUCKETS + 1  # floor(log2(low))
    sub = index % SUB_BUCKETS
    step = 1 << (power - 2)
    return (SUB_BUCKETS + sub) * step, (SUB_BUCKETS + sub + 1) * step


def bucket_of(us: int) -> int:
    """The bucket a latency falls in; mirrors latency_bucket() in bpf/bpftop.h."""
    if us < SUB_BUCKETS:
        return us
    power = min(us.bit_length() - 1, 31)
    sub = (us >> (power - 2)) & 3
    return (power - 1) * SUB_BUCKETS + sub


def buckets_from_counts(counts: Mapping[int, int]) -> tuple[Bucket, ...]:
    """Non-empty buckets, lowest first, from {bucket index: count}."""
    out = []
    for index in sorted(counts):
        if counts[index] > 0:
            low, high = bucket_bounds(index)
            out.append((float(low), float(high), counts[index]))
    return tuple(out)


@dataclass(frozen=True)
class LatencySummary:
    p50: float
    p95: float
    p99: float
    max: float


def percentile(buckets: Iterable[Bucket], fraction: float, max_us: float | None = None) -> float:
    """The value below which `fraction` of the samples fall, interpolated in its bucket."""
    buckets = tuple(buckets)
    total = sum(count for _, _, count in buckets)
    if total == 0:
        return 0.0
    rank = fraction * total
    seen = 0
    value = buckets[-1][1]
    for low, high, count in buckets:
        if seen + count >= rank:
            value = low + (high - low) * (rank - seen) / count
            break
        seen += count
    if max_us is not None:
        value = min(value, max_us)
    return round(value, 1)


def percentile_bound(buckets: Iterable[Bucket], fraction: float) -> float | None:
    """The upper edge of the bucket that holds the `fraction` percentile: a bound the
    histogram itself shows ("p99 <= 8.6 s"), not a value interpolated inside a bucket
    that may be twice as wide as the value. None for an empty histogram."""
    buckets = tuple(buckets)
    total = sum(count for _, _, count in buckets)
    seen = 0
    for _low, high, count in buckets:
        seen += count
        if total and seen >= fraction * total:
            return high
    return None


def summarize(buckets: Iterable[Bucket], max_us: float | None) -> LatencySummary | None:
    """p50/p95/p99/max; None when there was nothing to time."""
    buckets = tuple(buckets)
    if not buckets:
        return None
    top = max_us if max_us is not None else buckets[-1][1]
    return LatencySummary(
        p50=percentile(buckets, 0.50, top),
        p95=percentile(buckets, 0.95, top),
        p99=percentile(buckets, 0.99, top),
        max=round(top, 1),
    )


def merge(*histograms: Iterable[Bucket]) -> tuple[Bucket, ...]:
    """Add histograms bucket by bucket (for a window of intervals)."""
    totals: dict[tuple[float, float], int] = {}
    for hist in histograms:
        for low, high, count in hist:
            totals[(low, high)] = totals.get((low, high), 0) + count
    return tuple((low, high, n) for (low, high), n in sorted(totals.items()) if n)


def by_power_of_two(buckets: Iterable[Bucket]) -> tuple[Bucket, ...]:
    """Fold the sub-buckets into biolatency's log2 rows for drawing bars."""
    rows: dict[int, int] = {}
    for low, _high, count in buckets:
        power = int(low).bit_length() - 1 if low >= 1 else -1
        rows[power] = rows.get(power, 0) + count
    out = []
    for power in sorted(rows):
        low = 0 if power < 0 else 1 << power
        high = 1 if power < 0 else 1 << (power + 1)
        out.append((float(low), float(high), rows[power]))
    return tuple(out)


def log2_ns_latency(counts: Sequence[int]) -> tuple[tuple[Bucket, ...], dict[str, float] | None]:
    """A histogram of bpf/uprobes.c (bucket b holds [2^(b-1), 2^b) ns) as microsecond
    buckets, and its p50, p99 and top bucket edge (None: no returns)."""
    buckets = tuple(((0 if b == 0 else 2 ** (b - 1)) / 1000, 2**b / 1000, n)
                    for b, n in enumerate(counts) if n > 0)  # fmt: skip
    if not buckets:
        return buckets, None
    return buckets, {"p50": percentile(buckets, 0.5), "p99": percentile(buckets, 0.99),
                     "max_bucket": buckets[-1][1]}  # fmt: skip
