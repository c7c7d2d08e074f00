"""Connection pane: what keeps failing (peer and result, with counts), then new TCP
connections both ways with their latency."""

from __future__ import annotations

from rich.text import Text

from bpftop.core.format import clock, endpoint, latency_us, rate
from bpftop.model.connections import ConnectSnapshot
from bpftop.model.dashboard import DashboardSnapshot
from bpftop.panes.base import Row
from bpftop.panes.grouped import MAX_GROUPS, GroupedPane, GroupRow, count_cells


class ConnectPane(GroupedPane):
    # Most telling first, so 80 columns show peer, result and latency.
    columns = ("TIME", "PID", "COMM", "PEER", "RESULT", "LAT", "LOCAL", "STATE")
    group_columns = ("COUNT", "RATE", "RESULT", "LAST", "PID", "COMM", "PEER")

    def live_title(self, snapshot: DashboardSnapshot) -> str:
        c = snapshot.view("connect", ConnectSnapshot)
        return (
            f"out {rate(c.outbound.per_second)} · in {rate(c.inbound.per_second)}"
            f" · failed {rate(c.failed.per_second)}"
        )

    def alarming(self, snapshot: DashboardSnapshot) -> bool:
        return snapshot.view("connect", ConnectSnapshot).failed.per_second > 0

    def _result_styles(self) -> dict[str, str]:
        p = self.palette
        return {"established": p.good, "refused": p.bad, "reset": p.bad,
                "timeout": f"bold {p.warn}", "aborted": p.warn, "error": p.bad}  # fmt: skip

    def group_rows(self, snapshot: DashboardSnapshot) -> list[GroupRow]:
        styles = self._result_styles()
        out: list[GroupRow] = []
        for g in snapshot.view("connect", ConnectSnapshot).failures[:MAX_GROUPS]:
            direction, addr, port, family, result = g.key
            # Inbound: the local service that was connected to (a client's port is random).
            peer = f"→ {endpoint(addr, port, family)}" if direction == "out" else (
                f"← {endpoint(addr, port, family)} (in)")  # fmt: skip
            last = g.last
            cells = (*count_cells(g.total, g.per_second, self.palette),
                     Text(result, style=styles.get(last.result, "")), clock(last.ts),
                     str(last.pid) if last.pid is not None else "-", (last.comm or "-")[:12],
                     peer)  # fmt: skip
            out.append((cells, last.pid))
        return out

    def rows(self, snapshot: DashboardSnapshot, newest: int | None = None) -> list[Row]:
        styles = self._result_styles()
        out = []
        for r in snapshot.view("connect", ConnectSnapshot).rows[-newest if newest else 0 :]:
            # Inbound handshakes finish in softirq: no task to name. They are the
            # listener's owner's when bpf/connect.c knows it, never a guess.
            pid = str(r.pid) if r.pid is not None else "-"
            arrow = "→ " if r.direction == "out" else "← "
            out.append(
                Row(
                    cells=(
                        clock(r.ts),
                        pid,
                        # Italic: the owner of the socket that listened (inbound).
                        Text((r.comm or "-")[:12], style="italic" if r.listener else ""),
                        arrow + endpoint(r.daddr, r.dport, r.family),
                        Text(r.outcome, style=styles.get(r.result, "")),
                        latency_us(r.latency_us),
                        endpoint(r.saddr, r.sport, r.family),
                        r.state or "",
                    ),
                    keys=(
                        r.ts,
                        r.pid,
                        r.comm,
                        (r.direction, r.daddr, r.dport),
                        r.outcome,
                        r.latency_us,
                        (r.saddr, r.sport),
                        r.state,
                    ),
                    pid=r.pid,
                )
            )
        return out
