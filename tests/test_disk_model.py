"""Pure tests: latency buckets, percentiles from histograms, and the disk pane model."""

from __future__ import annotations

import itertools

import pytest

from bpftop.core.histogram import (
    LatencySummary,
    bucket_bounds,
    bucket_of,
    buckets_from_counts,
    by_power_of_two,
    merge,
    percentile,
    summarize,
)
from bpftop.core.records import DiskProcRecord, DiskRecord
from bpftop.model.disks import WINDOW_INTERVALS, DiskModel


def test_every_latency_falls_inside_its_bucket_and_buckets_tile_the_axis() -> None:
    for us in [*range(0, 70_000), 2**31 - 1]:
        low, high = bucket_bounds(bucket_of(us))
        assert low <= us < high, us
    edges = [bucket_bounds(i) for i in range(124)]
    assert all(a[1] == b[0] for a, b in itertools.pairwise(edges))
    # At most a quarter wider than the low edge: p99 is off by < 25% at worst.
    assert all((high - low) / low <= 0.25 for low, high in edges[4:])


def test_bucket_indexes_match_bpf_disk_c() -> None:
    # Worked by hand from bucket_of() in bpf/disk.c (bpf_log2l(v) - 1 == floor(log2 v)).
    assert [bucket_of(v) for v in (0, 3, 4, 7, 8, 9, 10, 15, 16, 100)] == [
        0, 3, 4, 7, 8, 8, 9, 11, 12, 4 * 5 + 2,
    ]  # fmt: skip
    assert bucket_bounds(22) == (96, 112)


def test_percentiles_interpolate_inside_the_bucket() -> None:
    # 100 samples spread evenly over [100, 200): p50 ~ 150, p99 ~ 199.
    hist = ((100.0, 200.0, 100),)
    assert percentile(hist, 0.50) == 150.0
    assert percentile(hist, 0.99) == 199.0
    assert percentile(hist, 0.99, max_us=180.0) == 180.0  # never above the exact max


def test_percentiles_pick_the_right_bucket() -> None:
    hist = buckets_from_counts({bucket_of(10): 90, bucket_of(1000): 9, bucket_of(50_000): 1})
    summary = summarize(hist, max_us=50_100.0)
    assert summary is not None
    assert 10 <= summary.p50 < 12  # bucket [10, 12)
    assert 896 <= summary.p95 < 1024  # bucket [896, 1024)
    assert summary.p99 == 1024.0  # the 99th of 100 samples is the last of the 9
    assert 49_152 <= percentile(hist, 0.999, 50_100.0) <= 50_100
    assert summary.max == 50_100.0
    assert summarize((), None) is None
    assert percentile((), 0.5) == 0.0


def test_merge_and_fold_to_powers_of_two() -> None:
    a = ((96.0, 112.0, 2), (112.0, 128.0, 1))
    b = ((96.0, 112.0, 3), (1024.0, 1280.0, 4))
    merged = merge(a, b)
    assert merged == ((96.0, 112.0, 5), (112.0, 128.0, 1), (1024.0, 1280.0, 4))
    assert by_power_of_two(merged) == ((64.0, 128.0, 6), (1024.0, 2048.0, 4))
    assert by_power_of_two(((0.0, 1.0, 2), (1.0, 2.0, 1))) == ((0.0, 1.0, 2), (1.0, 2.0, 1))


def disk(ts: float, dev: str = "vda", reads: int = 0, p99: float | None = None) -> DiskRecord:
    hist = ((96.0, 112.0, reads),) if reads else ()
    lat = LatencySummary(100.0, p99, p99, p99) if p99 else None
    return DiskRecord(ts, dev, 1.0, reads, 0, reads * 4096, 0, lat_us=lat, hist=hist)


def proc(ts: float, pid: int | None, reads: int, lat: float | None = 100.0) -> DiskProcRecord:
    return DiskProcRecord(ts, pid, "dd" if pid else None, "vda", 1.0, reads, 0, reads * 4096, 0,
                          lat, slow=1 if reads else 0)  # fmt: skip


def test_disk_model_windows_histogram_and_processes() -> None:
    model = DiskModel()
    for i in range(WINDOW_INTERVALS + 2):
        model.add_device(disk(float(i), reads=1, p99=100.0 + i))
        model.add_proc(proc(float(i), 42, 1, lat=100.0 if i % 2 else 200.0))
        model.add_proc(proc(float(i), None, 2))
    snap = model.snapshot()
    (vda,) = snap.devices
    assert vda.window_hist == ((96.0, 112.0, WINDOW_INTERVALS),)  # only the window
    assert vda.p99_history[-1] == 100.0 + WINDOW_INTERVALS + 1
    assert len(vda.p99_history) == WINDOW_INTERVALS + 2
    by_pid = {p.pid: p for p in snap.procs}
    assert by_pid[42].reads == WINDOW_INTERVALS and by_pid[None].reads == 2 * WINDOW_INTERVALS
    assert by_pid[42].avg_lat_us == pytest.approx((200 * 3 + 100 * 2) / 5)  # i = 2..6
    assert snap.procs[0].pid is None  # most bytes first
    assert snap.window_s == WINDOW_INTERVALS


def test_idle_devices_sort_after_busy_ones_and_keep_a_gap_in_p99() -> None:
    model = DiskModel()
    model.add_device(disk(1.0, "loop3"))
    model.add_device(disk(1.0, "vda", reads=5, p99=120.0))
    model.add_device(disk(2.0, "vda"))
    model.add_device(disk(2.0, "loop3"))
    names = [d.last.dev for d in model.snapshot().devices]
    assert names == ["vda", "loop3"]  # vda had I/O inside the window
    vda = model.snapshot().devices[0]
    assert vda.p99_history == (120.0, None)


def test_a_device_that_stops_reporting_leaves_the_pane() -> None:
    model = DiskModel()
    model.add_device(disk(1.0, "loop7", reads=1, p99=90.0))
    model.add_device(disk(1.0, "vda"))
    model.add_device(disk(5.0, "vda"))
    assert [d.last.dev for d in model.snapshot().devices] == ["loop7", "vda"]
    model.add_device(disk(12.0, "vda"))
    assert [d.last.dev for d in model.snapshot().devices] == ["vda"]
