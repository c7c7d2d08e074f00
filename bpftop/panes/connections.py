"""Connection pane: new TCP connections both ways, latency, failures."""

from __future__ import annotations

from rich.text import Text

from bpftop.model.dashboard import DashboardSnapshot
from bpftop.panes.base import Pane, Row
from bpftop.panes.format import clock, endpoint, latency_us, rate


class ConnectPane(Pane):
    probe = "connect"
    label = "TCP [2]"
    # Most telling first, so 80 columns show peer, result and latency.
    columns = ("TIME", "PID", "COMM", "PEER", "RESULT", "LAT", "LOCAL", "STATE")

    def live_title(self, snapshot: DashboardSnapshot) -> str:
        c = snapshot.connects
        return (
            f"out {rate(c.outbound.per_second)} · in {rate(c.inbound.per_second)}"
            f" · failed {rate(c.failed.per_second)}"
        )

    def alarming(self, snapshot: DashboardSnapshot) -> bool:
        return snapshot.connects.failed.per_second > 0

    def rows(self, snapshot: DashboardSnapshot) -> list[Row]:
        p = self.palette
        styles = {"established": p.good, "refused": p.bad, "reset": p.bad,
                  "timeout": f"bold {p.warn}", "aborted": p.warn}  # fmt: skip
        out = []
        for r in snapshot.connects.rows:
            # Inbound handshakes finish in softirq: no task to name, never a guess.
            pid = str(r.pid) if r.pid is not None else "-"
            arrow = "→ " if r.direction == "out" else "← "
            out.append(
                Row(
                    cells=(
                        clock(r.ts),
                        pid,
                        (r.comm or "-")[:12],
                        arrow + endpoint(r.daddr, r.dport, r.family),
                        Text(r.result, style=styles.get(r.result, "")),
                        latency_us(r.latency_us),
                        endpoint(r.saddr, r.sport, r.family),
                        r.state or "",
                    ),
                    keys=(
                        r.ts,
                        r.pid,
                        r.comm,
                        (r.direction, r.daddr, r.dport),
                        r.result,
                        r.latency_us,
                        (r.saddr, r.sport),
                        r.state,
                    ),
                    pid=r.pid,
                )
            )
        return out
