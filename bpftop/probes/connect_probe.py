"""New TCP connections, outbound and inbound, with latency and failures (bpf/connect.c)."""

from __future__ import annotations

import ipaddress
from typing import Any

from bpftop.probes.base import PlanStep, Probe, c_string
from bpftop.records import CONNECT_RESULTS, ConnectRecord

AF_INET = 2
TCP_STATES = {1: "ESTABLISHED", 2: "SYN_SENT", 3: "SYN_RECV", 7: "CLOSE"}


def _address(family: int, raw: Any) -> str:
    data = bytes(raw)
    return str(ipaddress.ip_address(data[:4] if family == AF_INET else data[:16]))


class ConnectProbe(Probe):
    name = "connect"
    title = "TCP connections"
    source = "connect.c"
    plan = (
        PlanStep(
            via="tracepoint:sock:inet_sock_set_state",
            tracepoints=(
                "sock:inet_sock_set_state",
                "tcp:tcp_receive_reset",
                "tcp:tcp_retransmit_skb",
            ),
        ),
    )
    counter_names = (
        "out_established",
        "out_refused",
        "out_timeout",
        "out_aborted",
        "in_established",
        "resets",
        "lost",
        "in_resets",
    )
    lost_counter = "lost"

    def decode(self, event: Any, data: int) -> ConnectRecord:
        family = int(event.family)
        result = CONNECT_RESULTS[int(event.result)]
        pid = int(event.pid) or None
        return ConnectRecord(
            ts=self._clock.wall(event.ts_ns),
            pid=pid,
            comm=c_string(bytes(event.comm)) if pid else None,
            uid=int(event.uid) if pid else None,
            direction="in" if event.direction else "out",
            family=4 if family == AF_INET else 6,
            saddr=_address(family, event.saddr),
            sport=int(event.sport),
            daddr=_address(family, event.daddr),
            dport=int(event.dport),
            latency_us=round(event.latency_ns / 1000, 1) if event.latency_ns else None,
            result=result,
            state=TCP_STATES.get(int(event.state)) if result != "established" else None,
        )
