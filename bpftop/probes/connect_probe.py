"""New TCP connections, outbound and inbound, with latency and failures (bpf/connect.c)."""

from __future__ import annotations

import errno
import ipaddress
import socket
from typing import Any

import psutil

from bpftop.core.records import CONNECT_RESULTS, ConnectRecord
from bpftop.probes.base import PlanStep, Probe, c_string

AF_INET = 2
VIA = "tracepoint:sock:inet_sock_set_state"
TRACEPOINTS = ("sock:inet_sock_set_state", "tcp:tcp_receive_reset", "tcp:tcp_retransmit_skb")
CONNECT_FUNCTIONS = ("tcp_v4_connect", "tcp_v6_connect")
TCP_STATES = {1: "ESTABLISHED", 2: "SYN_SENT", 3: "SYN_RECV", 7: "CLOSE"}


def _address(family: int, raw: Any) -> str:
    data = bytes(raw)
    return str(ipaddress.ip_address(data[:4] if family == AF_INET else data[:16]))


class ConnectProbe(Probe):
    name = "connect"
    title = "TCP connections"
    source = "connect.c"
    # Where the kernel lets bpftop see connect()'s return: also the calls that fail
    # at once (ENETUNREACH, EADDRNOTAVAIL...), which the state tracepoint never shows
    # or shows only as a close.
    plan = (
        PlanStep(
            via=f"{VIA} + fexit:tcp_v{{4,6}}_connect for errors",
            tracepoints=TRACEPOINTS,
            fexit=CONNECT_FUNCTIONS,
            cflags=("-DCONNECT_FEXIT",),
        ),
        PlanStep(
            via=f"{VIA} + kretprobe:tcp_v{{4,6}}_connect for errors",
            tracepoints=TRACEPOINTS,
            kprobes=CONNECT_FUNCTIONS,
            cflags=("-DCONNECT_KPROBE",),
        ),
        PlanStep(via=VIA, tracepoints=TRACEPOINTS),
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
        "out_error",
    )
    lost_counter = "lost"

    def on_started(self) -> None:
        """The listeners that were there before bpftop: the kernel learns the later
        ones as they call listen()."""
        table = self._bpf[b"listeners"]
        for (family, port), owners in current_listeners().items():
            key, leaf = table.Key(), table.Leaf()
            key.family, key.port = family, port
            pid, uid, comm = owners[0]
            leaf.pid, leaf.uid, leaf.shared = pid, uid, int(len(owners) > 1)
            leaf.comm = comm.encode()[:15]
            table[key] = leaf

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
            listener=bool(event.listener),
            errno=errno.errorcode.get(-int(event.err), str(-int(event.err))) if event.err else None,
        )


def current_listeners() -> dict[tuple[int, int], list[tuple[int, int, str]]]:
    """{(AF_INET or AF_INET6, port): [(pid, uid, comm) of each process listening]}."""
    found: dict[tuple[int, int], list[tuple[int, int, str]]] = {}
    names: dict[int, tuple[int, str] | None] = {}
    for conn in psutil.net_connections(kind="tcp"):
        if conn.status != psutil.CONN_LISTEN or not conn.pid or not conn.laddr:
            continue
        if conn.pid not in names:
            try:
                proc = psutil.Process(conn.pid)
                names[conn.pid] = (proc.uids().real, proc.name()[:15])
            except psutil.Error:
                names[conn.pid] = None
        who = names[conn.pid]
        if who is None:
            continue
        family = AF_INET if conn.family == socket.AF_INET else 10
        owners = found.setdefault((family, conn.laddr.port), [])  # type: ignore[union-attr]
        if all(pid != conn.pid for pid, _uid, _comm in owners):
            owners.append((conn.pid, *who))
    return found
