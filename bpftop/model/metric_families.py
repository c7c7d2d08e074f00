"""Each pane's /metrics families, from a snapshot of the running totals: named by the
panes' descriptors (bpftop/catalog.py), served by bpftop/outputs/serve.py after the
families every probe has (attached, state, lost events, run time).

prometheus-client is imported in the functions, which only --serve calls: the catalog
names them, and importing the client costs every start ~40 ms (120 ms on a busy box)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from bpftop.model.metrics import LATENCY_BOUNDS_US, TCP_SERIES, MetricsSnapshot

if TYPE_CHECKING:
    from prometheus_client.core import Metric


def execs(snap: MetricsSnapshot) -> Iterator[Metric]:
    from prometheus_client.core import CounterMetricFamily

    family = CounterMetricFamily(
        "bpftop_execs", "execve/execveat calls by result", labels=["result"]
    )
    for result, counter in (("ok", "ok"), ("failed", "failed")):
        family.add_metric([result], snap.counters.get(("exec", counter), 0))
    yield family


def connects(snap: MetricsSnapshot) -> Iterator[Metric]:
    from prometheus_client.core import CounterMetricFamily

    tcp = CounterMetricFamily(
        "bpftop_tcp_connections",
        "new TCP connections by direction and result",
        labels=["direction", "result"],
    )
    counters = snap.counters
    for direction, result, counter in TCP_SERIES:
        tcp.add_metric([direction, result], counters.get(("connect", counter), 0))
    resets = counters.get(("connect", "resets"), 0)
    in_resets = counters.get(("connect", "in_resets"), 0)
    tcp.add_metric(["out", "reset"], resets - in_resets)
    tcp.add_metric(["in", "reset"], in_resets)
    yield tcp


def disks(snap: MetricsSnapshot) -> Iterator[Metric]:
    from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily

    latency = HistogramMetricFamily(
        "bpftop_disk_io_latency_seconds",
        "block I/O latency, submission to completion, from the kernel's histogram",
        labels=["device", "op"],
    )
    ios = CounterMetricFamily("bpftop_disk_ios", "block I/Os completed", labels=["device", "op"])
    nbytes = CounterMetricFamily(
        "bpftop_disk_bytes", "bytes of block I/O completed", labels=["device", "op"]
    )
    for (device, op), series in sorted(snap.disk.items()):
        ios.add_metric([device, op], series.ios)
        nbytes.add_metric([device, op], series.bytes)
        hist = series.latency
        if hist is None:
            continue
        buckets = [
            (f"{bound / 1e6:g}", count)
            for bound, count in zip(LATENCY_BOUNDS_US, hist.cumulative(), strict=True)
        ]
        buckets.append(("+Inf", hist.count))
        latency.add_metric([device, op], buckets, sum_value=hist.sum_us / 1e6)
    yield latency
    yield ios
    yield nbytes


def denials(snap: MetricsSnapshot) -> Iterator[Metric]:
    from prometheus_client.core import CounterMetricFamily

    with_comm = any(comm for _s, _e, comm in snap.denials)
    labels = ["syscall", "errno", *(["comm"] if with_comm else [])]
    family = CounterMetricFamily(
        "bpftop_denials", "syscalls that failed with EACCES or EPERM", labels=labels
    )
    for (syscall, errno, comm), count in sorted(snap.denials.items()):
        family.add_metric([syscall, errno, *([comm] if with_comm else [])], count)
    yield family


def xdp(snap: MetricsSnapshot) -> Iterator[Metric]:
    from prometheus_client.core import CounterMetricFamily

    family = CounterMetricFamily(
        "bpftop_xdp_actions",
        "XDP verdicts per interface and counting source (driver, tracepoint, bpftop)",
        labels=["ifname", "action", "source"],
    )
    for (ifname, action, source), count in sorted(snap.xdp.items()):
        family.add_metric([ifname, action, source], count)
    yield family
