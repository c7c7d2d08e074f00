"""`bpftop --serve ADDR:PORT`: /metrics in the Prometheus text format.

prometheus-client formats the metrics and answers HTTP; bpftop gives it one custom
collector that turns a MetricTotals snapshot into metric families at scrape time.
Each connection has its own thread with a socket timeout, so a client that connects
and never reads (or never asks) costs a thread for a few seconds and holds up nobody.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
from collections.abc import Iterator
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, make_wsgi_app
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

from bpftop import __version__
from bpftop.catalog import PANES
from bpftop.core.records import PROBE_STATES
from bpftop.model.metrics import MetricTotals

CLIENT_TIMEOUT_S = 5.0


class _QuietHandler(WSGIRequestHandler):
    timeout = CLIENT_TIMEOUT_S  # socket timeout: a stalled client's thread gives up

    def log_message(self, format: str, *args: Any) -> None:
        """No access log on stderr (the daemon's journal would fill with scrapes)."""


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class MetricsServer:
    """Binds at construction (so a taken port is an error before anything attaches),
    serves from a daemon thread after start()."""

    def __init__(self, host: str, port: int, totals: MetricTotals) -> None:
        self.totals = totals  # what the records are added to (the tap)
        registry = CollectorRegistry()
        registry.register(BpftopCollector(totals))
        registry.register(ProcessCollector(registry=None))  # bpftop's own CPU and RSS
        family = socket.AF_INET6 if ipaddress.ip_address(host).version == 6 else socket.AF_INET
        server_class = type("MetricsHTTPServer", (_ThreadingServer,), {"address_family": family})
        self._httpd: WSGIServer = make_server(
            host, port, make_wsgi_app(registry), server_class, handler_class=_QuietHandler
        )
        self.port: int = self._httpd.server_port
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, name="metrics", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        if self._thread.is_alive():
            self._httpd.shutdown()
        self._httpd.server_close()


class BpftopCollector(Collector):
    """Metric families from one snapshot of the totals, built at each scrape."""

    def __init__(self, totals: MetricTotals) -> None:
        self._totals = totals

    def collect(self) -> Iterator[Metric]:
        snap = self._totals.snapshot()
        info = GaugeMetricFamily("bpftop_build_info", "bpftop's version", labels=["version"])
        info.add_metric([__version__], 1)
        yield info

        attached = GaugeMetricFamily(
            "bpftop_probe_attached",
            "1 while the probe's programs are attached; via is the attach point it uses",
            labels=["probe", "via"],
        )
        state = GaugeMetricFamily(
            "bpftop_probe_state",
            "1 for the probe's current state (attaching, attached, unavailable, detached)",
            labels=["probe", "state"],
        )
        for probe, (current, via) in sorted(snap.probes.items()):
            attached.add_metric([probe, via], 1 if current == "attached" else 0)
            for name in PROBE_STATES:
                state.add_metric([probe, name], 1 if current == name else 0)
        yield attached
        yield state

        for pane in PANES:  # the panes' own families (catalog.py), in pane order
            if pane.metrics is not None and pane.name in snap.probes:
                yield from pane.metrics(snap)

        lost = CounterMetricFamily(
            "bpftop_lost_events",
            "events the ring buffer dropped (the counters above stay exact)",
            labels=["probe"],
        )
        run = CounterMetricFamily(
            "bpftop_bpf_run_seconds",
            "kernel time bpftop's programs ran, measured while run-time stats were on",
            labels=["probe"],
        )
        measured = CounterMetricFamily(
            "bpftop_bpf_stats_seconds",
            "wall time over which bpftop_bpf_run_seconds was measured (one interval in ten)",
            labels=["probe"],
        )
        for probe in sorted(snap.probes):
            lost.add_metric([probe], snap.lost.get(probe, 0))
            run.add_metric([probe], snap.bpf_run_ns.get(probe, 0) / 1e9)
            measured.add_metric([probe], snap.stats_seconds.get(probe, 0.0))
        yield lost
        yield run
        yield measured
