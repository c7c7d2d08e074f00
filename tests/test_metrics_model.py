"""The /metrics totals: exact sums of interval records, bounded labels, exact buckets."""

from __future__ import annotations

from bpftop.core.histogram import bucket_bounds, bucket_of
from bpftop.core.records import (
    DenialGroupRecord,
    DiskOpTotals,
    DiskRecord,
    ProbeCounts,
    ProbeStatus,
    XdpRecord,
)
from bpftop.model.metrics import (
    FORGET_AFTER_S,
    LATENCY_BOUNDS_US,
    MAX_COMMS,
    MetricTotals,
)
from bpftop.outputs.serve import BpftopCollector


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def denial(comm: str, count: int) -> DenialGroupRecord:
    return DenialGroupRecord(1.0, 1.0, comm, 65534, "openat", "EACCES", count)


def disk(dev: str, latencies_us: list[int], op: str = "read") -> DiskRecord:
    counts: dict[int, int] = {}
    for us in latencies_us:
        counts[bucket_of(us)] = counts.get(bucket_of(us), 0) + 1
    hist = tuple((float(lo), float(hi), n) for b, n in sorted(counts.items())
                 for lo, hi in [bucket_bounds(b)])  # fmt: skip
    totals = DiskOpTotals(op, len(latencies_us), 4096 * len(latencies_us), hist,
                          float(sum(latencies_us)))  # fmt: skip
    return DiskRecord(1.0, dev, 1.0, len(latencies_us), 0, 4096 * len(latencies_us), 0,
                      hist=hist, by_op=(totals,))  # fmt: skip


def test_counts_add_up_and_lost_and_run_time_are_kept_per_probe() -> None:
    totals = MetricTotals(["exec"])
    for ok, failed, bpf_ns in ((3, 1, None), (4, 0, 1_000), (0, 2, None)):
        counts = {"ok": ok, "failed": failed}
        totals.add(ProbeCounts(1.0, "exec", 0.5, counts, lost=1, bpf_ns=bpf_ns))
    snap = totals.snapshot()
    assert snap.counters == {("exec", "ok"): 7, ("exec", "failed"): 3}
    assert snap.lost == {"exec": 3}
    assert snap.bpf_run_ns == {"exec": 1_000}
    assert snap.stats_seconds == {"exec": 0.5}  # only the interval that measured


def test_probe_state_keeps_its_via_once_known() -> None:
    totals = MetricTotals(["disk", "exec"])
    assert totals.snapshot().probes == {"disk": ("attaching", ""), "exec": ("attaching", "")}
    totals.add(ProbeStatus(1.0, "disk", "attached", via="tracepoint:block:block_io_start"))
    totals.add(ProbeStatus(2.0, "disk", "detached"))
    assert totals.snapshot().probes["disk"] == ("detached", "tracepoint:block:block_io_start")


def test_latency_buckets_are_exact_at_every_power_of_two() -> None:
    latencies = [0, 1, 3, 4, 5, 7, 8, 100, 1023, 1024, 5000, 40_000_000]
    totals = MetricTotals(["disk"])
    totals.add(disk("vda", latencies[:6]))
    totals.add(disk("vda", latencies[6:]))
    series = totals.snapshot().disk[("vda", "read")]
    assert series.ios == len(latencies) and series.bytes == 4096 * len(latencies)
    hist = series.latency
    assert hist is not None
    for bound, cumulative in zip(LATENCY_BOUNDS_US, hist.cumulative(), strict=True):
        # The kernel buckets whole microseconds: a latency of us lies in [us, us + 1).
        assert cumulative == sum(1 for us in latencies if us + 1 <= bound), bound
    assert hist.above == 1 and hist.count == len(latencies)
    assert hist.sum_us == sum(latencies)


def test_comm_labels_are_capped_and_counters_never_move_between_series() -> None:
    totals = MetricTotals(["denials"], comm_labels=True)
    for i in range(MAX_COMMS + 5):
        totals.add(denial(f"c{i}", 1))
    totals.add(denial("c0", 10))  # an admitted comm stays itself
    totals.add(denial(f"c{MAX_COMMS + 1}", 10))  # a late one stays in other
    snap = totals.snapshot().denials
    assert len(snap) == MAX_COMMS + 1
    assert snap[("openat", "EACCES", "c0")] == 11
    assert snap[("openat", "EACCES", "other")] == 5 + 10


def test_without_comm_labels_one_series_per_syscall_and_errno() -> None:
    totals = MetricTotals(["denials"])
    for i in range(200):
        totals.add(denial(f"c{i}", 2))
    assert totals.snapshot().denials == {("openat", "EACCES", ""): 400}


def test_devices_and_interfaces_not_seen_for_a_while_leave() -> None:
    clock = Clock()
    totals = MetricTotals(["disk", "xdp"], clock=clock)
    totals.add(disk("loop3", [10]))
    totals.add(XdpRecord(1.0, "veth9", 9, 1.0, "UP", 0.0, 0.0, actions={"drop": 4, "tx": None},
                         source="driver"))  # fmt: skip
    clock.now += FORGET_AFTER_S + 1
    totals.add(disk("vda", [10]))
    totals.add(XdpRecord(1.0, "eth0", 2, 1.0, "UP", 0.0, 0.0, actions={"drop": 1},
                         source="driver"))  # fmt: skip
    snap = totals.snapshot()
    assert set(snap.disk) == {("vda", "read")}
    assert snap.xdp == {("eth0", "drop", "driver"): 1}


def test_a_snapshot_does_not_change_when_more_arrives() -> None:
    totals = MetricTotals(["disk"])
    totals.add(disk("vda", [10]))
    snap = totals.snapshot()
    totals.add(disk("vda", [10, 20]))
    latency = snap.disk[("vda", "read")].latency
    assert latency is not None and latency.count == 1


def test_collector_names_units_and_resets_by_direction() -> None:
    totals = MetricTotals(["connect", "exec"])
    counts = {"out_refused": 5, "resets": 3, "in_resets": 1, "in_established": 2}
    totals.add(ProbeCounts(1.0, "connect", 1.0, counts))
    families = {f.name: f for f in BpftopCollector(totals).collect()}
    assert "bpftop_disk_io_latency_seconds" not in families  # that probe is not running
    tcp = {tuple(s.labels.values()): s.value for s in families["bpftop_tcp_connections"].samples}
    assert tcp[("out", "refused")] == 5
    assert tcp[("out", "reset")] == 2 and tcp[("in", "reset")] == 1
    assert tcp[("in", "established")] == 2
    assert all(s.name.endswith("_total") for s in families["bpftop_execs"].samples)
