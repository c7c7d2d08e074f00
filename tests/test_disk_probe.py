"""Real kernel: the disk probe sees exactly the direct I/O a workload makes on a loop device."""

from __future__ import annotations

import dataclasses
import os
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from bpftop.core.commands import SetDiskSlow, SetExecFailures
from bpftop.core.histogram import bucket_bounds, bucket_of
from bpftop.core.records import DiskProcRecord, DiskRecord, ProbeCounts, ProbeStatus, SlowIoRecord
from bpftop.engine.bpf_engine import BpfEngine
from bpftop.host.kernel import KernelFeatures
from bpftop.probes.disk_probe import DiskProbe
from tests.helpers.collector import Collector
from tests.helpers.loopdev import BLOCK, direct_io, loop_device
from tests.helpers.timing import SLOWDOWN

pytestmark = pytest.mark.bpf
WRITES = 37
READS = 23


def totals(records: list[Any], fields: tuple[str, ...]) -> tuple[int, ...]:
    return tuple(sum(getattr(r, f) for r in records) for f in fields)


FIELDS = ("writes", "reads", "write_bytes", "read_bytes")
EXPECTED = (WRITES, READS, WRITES * BLOCK, READS * BLOCK)


IO_START_STEP, BIO_QUEUE_STEP, INSERT_STEP = (step.via for step in DiskProbe.plan)


def with_pids(kernel: KernelFeatures, step: str) -> tuple[KernelFeatures, str]:
    """Features that make the probe take `step` ("best": what this kernel offers; the
    bio_queue step is forced by hiding block_io_start), and the step's via."""
    if step == "best":
        has_io_start = kernel.has_tracepoint("block:block_io_start")
        return kernel, IO_START_STEP if has_io_start else BIO_QUEUE_STEP
    hidden = kernel.hidden_tracepoints | {"block:block_io_start"}
    return dataclasses.replace(kernel, hidden_tracepoints=hidden), BIO_QUEUE_STEP


@pytest.mark.parametrize("step", ["best", "bio_queue"])
def test_exact_direct_io_per_device_and_per_process(
    engine_for, kernel_features, tmp_path: Path, step: str
) -> None:
    kernel, via = with_pids(kernel_features, step)
    with loop_device(tmp_path) as dev:
        name = os.path.basename(dev)
        # Opened before attaching and kept open to the end: udev reacts to a close
        # after writing by reading the device, which would not be our I/O.
        fd = os.open(dev, os.O_RDWR | os.O_DIRECT)
        try:
            engine, sink = engine_for("disk", interval=0.3, kernel=kernel)
            statuses = [s for s in sink.of_type(ProbeStatus) if s.state == "attached"]
            assert statuses and statuses[0].via == via
            direct_io(fd, WRITES, READS)

            def procs() -> list[DiskProcRecord]:
                mine = sink.of_type(DiskProcRecord)
                return [r for r in mine if r.pid == os.getpid() and r.dev == name]

            def devices() -> list[DiskRecord]:
                return [r for r in sink.of_type(DiskRecord) if r.dev == name]

            assert sink.wait_for(lambda: totals(procs(), FIELDS) == EXPECTED)
            assert sink.wait_for(lambda: totals(devices(), FIELDS) == EXPECTED)
            sink.settle("disk")  # two more intervals: nothing extra arrives
            engine.stop()
        finally:
            os.close(fd)

    assert totals(procs(), FIELDS) == EXPECTED, procs()
    assert totals(devices(), FIELDS) == EXPECTED, [r for r in devices() if r.ios]
    assert {r.comm for r in procs()} == {Path("/proc/self/comm").read_text().strip()}
    assert sum(r.untimed for r in devices()) == 0, [r for r in devices() if r.ios]
    assert sum(r.discards + r.flushes + r.errors for r in devices()) == 0, devices()
    # Every one of our I/Os went into the in-kernel histogram, and the percentiles
    # computed from it are ordered and within the exact max.
    busy = [r for r in devices() if r.ios]
    assert sum(count for r in busy for _, _, count in r.hist) == WRITES + READS, busy
    for r in busy:
        assert r.lat_us is not None, r
        assert 0 < r.lat_us.p50 <= r.lat_us.p95 <= r.lat_us.p99 <= r.lat_us.max, r
        assert r.lat_us.max >= r.hist[-1][0], r  # the exact max: in or above the top bucket
        assert r.device_us is not None and r.queue_us is not None, r
    # No event per I/O reached user space: the slow-I/O stream is off by default.
    assert sink.of_type(SlowIoRecord) == []
    counts = [c for c in sink.of_type(ProbeCounts) if c.probe == "disk"]
    assert sum(c.counts["ios"] for c in counts) >= WRITES + READS
    # `collided` is box-wide: other I/O (a CI clone writing) may collide among itself.
    # Ours did not, or our device would show untimed I/O (asserted above).
    assert sum(c.counts["table_full"] for c in counts) == 0, counts
    assert sum(c.lost for c in counts) == 0, counts


@pytest.mark.parametrize("step", ["best", "bio_queue"])
def test_slow_threshold_sends_each_slow_io_with_its_submitter(
    engine_for, kernel_features, tmp_path: Path, step: str
) -> None:
    kernel, via = with_pids(kernel_features, step)
    with loop_device(tmp_path) as dev:
        name = os.path.basename(dev)
        fd = os.open(dev, os.O_RDWR | os.O_DIRECT)
        try:
            engine, sink = engine_for("disk", interval=0.3, kernel=kernel)
            assert [s.via for s in sink.of_type(ProbeStatus) if s.state == "attached"] == [via]
            engine.submit(SetDiskSlow(0.001)).result(timeout=10)  # 1 us: every I/O is slow
            direct_io(fd, WRITES, READS)

            def slow() -> list[SlowIoRecord]:
                return [r for r in sink.of_type(SlowIoRecord) if r.dev == name]

            assert sink.wait_for(lambda: len(slow()) >= WRITES + READS)
            assert sink.wait_for(
                lambda: (
                    sum(r.slow for r in sink.of_type(DiskProcRecord) if r.dev == name)
                    >= WRITES + READS
                )
            )
            engine.stop()
        finally:
            os.close(fd)
    records = slow()
    assert len(records) == WRITES + READS
    assert {r.pid for r in records} == {os.getpid()}
    assert sorted(r.op for r in records) == ["read"] * READS + ["write"] * WRITES
    assert {r.bytes for r in records} == {BLOCK}
    assert sorted(r.sector for r in records if r.op == "write") == [
        i * 2 * BLOCK // 512 for i in range(WRITES)
    ]
    assert all(r.lat_us >= 1 for r in records)
    procs = [r for r in sink.of_type(DiskProcRecord) if r.dev == name]
    assert sum(r.slow for r in procs) == WRITES + READS
    # The kernel's histogram buckets agree with the exact latency of every I/O.
    from_events = Counter(bucket_bounds(bucket_of(int(r.lat_us))) for r in records)
    from_hist: Counter[tuple[int, int]] = Counter()
    for r in sink.of_type(DiskRecord):
        if r.dev == name:
            from_hist.update({(int(low), int(high)): n for low, high, n in r.hist})
    assert from_hist == from_events


def test_a_command_for_a_probe_the_engine_lacks_is_refused_at_once(kernel_features) -> None:
    """Typed commands cannot name a setting that does not exist; what is left to refuse
    is a probe this engine was not built with, at submit(), before the BPF thread."""
    engine = BpfEngine(kernel_features, (DiskProbe,), Collector(), enabled=("disk",))
    engine.start()
    try:
        assert engine.ready.wait(30 * SLOWDOWN)
        with pytest.raises(ValueError, match="probe exec has no setting"):
            engine.submit(SetExecFailures(False))
        engine.submit(SetDiskSlow(5.0)).result(timeout=10)  # applied on the BPF thread
        assert engine.probes["disk"].active
    finally:
        engine.stop()


FSYNCS = 17


def _diskstats_flushes(name: str) -> int:
    """The kernel's own count of completed flush requests of a disk (/proc/diskstats)."""
    for line in Path("/proc/diskstats").read_text().splitlines():
        fields = line.split()
        if fields[2] == name:
            return int(fields[3 + 15])  # "flush requests completed successfully"
    raise AssertionError(f"{name} not in /proc/diskstats")


def test_each_flush_is_one_timed_io_as_the_kernel_counts_it(engine_for, tmp_path: Path) -> None:
    """An fsync's cache flush is one I/O of its process, timed, as /proc/diskstats
    counts it: the block layer's own flush request is not counted a second time."""
    with loop_device(tmp_path) as dev:
        name = os.path.basename(dev)
        fd = os.open(dev, os.O_RDWR | os.O_DIRECT)
        try:
            engine, sink = engine_for("disk", interval=0.3)
            before = _diskstats_flushes(name)
            for _ in range(FSYNCS):
                os.fsync(fd)  # nothing written: an empty flush each time
            flushes = _diskstats_flushes(name) - before

            def devices() -> list[DiskRecord]:
                return [r for r in sink.of_type(DiskRecord) if r.dev == name]

            assert sink.wait_for(lambda: sum(r.flushes for r in devices()) >= FSYNCS)
            sink.settle("disk")  # two more intervals: nothing extra arrives
            engine.stop()
        finally:
            os.close(fd)
    busy = [r for r in devices() if r.ios]
    assert flushes == FSYNCS, "the loop device has no write cache: nothing to flush"
    assert sum(r.flushes for r in busy) == FSYNCS, busy
    assert sum(r.ios for r in busy) == FSYNCS, busy
    assert sum(r.untimed for r in busy) == 0, busy
    assert sum(count for r in busy for _, _, count in r.hist) == FSYNCS, busy
    other = [t for r in busy for t in r.by_op if t.op == "other"]
    assert sum(t.ios for t in other) == sum(n for t in other for _, _, n in t.hist) == FSYNCS
