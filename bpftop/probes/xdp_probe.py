"""XDP per interface: which program is attached and by whom, the driver's own XDP
counters (so a foreign program's drops show without touching it), and the kernel's
XDP exception and redirect-error tracepoints (bpf/xdp.c).

bpftop only reads here: it never attaches, replaces or detaches an XDP program.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

from bpftop.probes.base import PlanStep, Probe
from bpftop.probes.interfaces import Link, LinkReader, driver_xdp_actions
from bpftop.probes.stats import BpfStats
from bpftop.records import XDP_ACTIONS, Record, XdpRecord

# `what` in bpf/xdp.c: 0-4 the action an xdp_exception reported, 5 invalid, 6 redirect error
TRACEPOINT_WHAT = {0: "aborted", 1: "drop", 2: "pass", 3: "tx", 4: "redirect", 5: "aborted",
                   6: "redirect"}  # fmt: skip
OWN_PROGRAM_PREFIX = "bpftop_"  # names of XDP programs bpftop itself would attach


def _delta(now: dict[str, int], before: dict[str, int] | None) -> dict[str, int]:
    if before is None:
        return {k: 0 for k in now}
    return {k: v - before.get(k, 0) if v >= before.get(k, 0) else v for k, v in now.items()}


class XdpProbe(Probe):
    name = "xdp"
    title = "XDP"
    source = "xdp.c"
    plan = (
        PlanStep(
            via="netlink + ethtool stats + tracepoint:xdp:xdp_exception",
            tracepoints=("xdp:xdp_exception", "xdp:xdp_redirect_err"),
        ),
    )
    counter_names = ("lost",)  # nothing is sent per packet
    lost_counter = "lost"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._links = LinkReader()
        self._names: BpfStats | None = None
        self._last_packets: dict[int, tuple[int, int]] = {}
        self._last_driver: dict[int, dict[str, int]] = {}
        self._last_tracepoint: dict[int, dict[str, int]] = {}

    def on_started(self) -> None:
        self._last_packets, self._last_driver, self._last_tracepoint = {}, {}, {}
        self._names = BpfStats()
        self.interval_records(0.0)  # the baseline: the first real interval is a delta

    def stop(self) -> None:
        super().stop()
        self._links.close()

    def decode(self, event: Any, data: int) -> None:
        return None  # bpf/xdp.c sends no events

    def interval_records(self, interval_s: float) -> list[Record]:
        if self._bpf is None:
            return []
        ts = time.time()
        exceptions = self._tracepoint_totals()
        links = self._links.links()
        seen = {link.ifindex for link in links}
        for table in (self._last_packets, self._last_driver, self._last_tracepoint):
            for gone in [i for i in table if i not in seen]:
                del table[gone]  # an interface that vanished is simply not reported
        records: list[Record] = []
        for link in links:
            records.extend(self._link_records(ts, interval_s, link, exceptions.get(link.ifindex)))
        return [] if interval_s <= 0 else records

    def _tracepoint_totals(self) -> dict[int, dict[str, int]]:
        out: dict[int, dict[str, int]] = {}
        for key, per_cpu in self._bpf[b"xdp_events"].items():
            action = TRACEPOINT_WHAT.get(int(key.what), "aborted")
            counts = out.setdefault(int(key.ifindex), {})
            counts[action] = counts.get(action, 0) + int(sum(per_cpu))
        return out

    def _link_records(
        self, ts: float, interval_s: float, link: Link, exceptions: dict[str, int] | None
    ) -> list[XdpRecord]:
        rx0, tx0 = self._last_packets.get(link.ifindex, (link.rx_packets, link.tx_packets))
        self._last_packets[link.ifindex] = (link.rx_packets, link.tx_packets)
        per_s = (lambda n: round(max(n, 0) / interval_s, 1)) if interval_s > 0 else (lambda n: 0.0)
        base = XdpRecord(
            ts=ts,
            ifname=link.ifname,
            ifindex=link.ifindex,
            interval_s=round(interval_s, 3),
            state=link.state,
            rx_pps=per_s(link.rx_packets - rx0),
            tx_pps=per_s(link.tx_packets - tx0),
            prog=self._program(link),
        )
        out = []
        driver = driver_xdp_actions(self._links.driver_stats(link.ifname))
        if driver is not None:
            delta = _delta(driver, self._last_driver.get(link.ifindex))
            self._last_driver[link.ifindex] = driver
            actions = {a: delta.get(a) for a in XDP_ACTIONS}
            out.append(replace(base, actions=actions, source="driver"))
        if exceptions is not None:
            delta = _delta(exceptions, self._last_tracepoint.get(link.ifindex))
            self._last_tracepoint[link.ifindex] = exceptions
            actions = {a: delta.get(a, 0) for a in XDP_ACTIONS}
            out.append(replace(base, actions=actions, source="tracepoint"))
        return out or [base]

    def _program(self, link: Link) -> dict[str, Any] | None:
        if link.xdp_prog_id is None:
            return None
        name = self._names.prog_name(link.xdp_prog_id) if self._names else None
        owner = "bpftop" if name and name.startswith(OWN_PROGRAM_PREFIX) else "foreign"
        return {"id": link.xdp_prog_id, "name": name, "mode": link.xdp_mode, "owner": owner}
