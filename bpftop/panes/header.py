"""The header line: the box at a glance and what bpftop costs it."""

from __future__ import annotations

import time

from textual.widgets import Static

from bpftop.model.dashboard import DashboardSnapshot
from bpftop.panes.format import duration


class HeaderLine(Static):
    DEFAULT_CSS = """
    HeaderLine { height: auto; max-height: 2; background: $panel; color: $text; padding: 0 1; }
    """

    def update_from(self, snapshot: DashboardSnapshot, *, paused: bool = False) -> None:
        s = snapshot.system
        total = len(snapshot.probes)
        parts = []
        if s is not None:
            parts += [
                f"[b]{s.host}[/b] {s.kernel}",
                f"up {duration(s.uptime_s)}",
                "load " + " ".join(f"{x:.2f}" for x in s.load),
                f"cpu {s.cpu_percent:.0f}%",
                f"mem {s.mem_percent:.0f}%",
            ]
        parts.append(f"probes {snapshot.attached_count}/{total}")
        cost = f"bpftop {s.self_cpu_percent:.1f}% " if s is not None else "bpftop "
        parts.append(cost + f"bpf {snapshot.bpf_cpu_percent:.2f}%")
        line = " │ ".join(parts)
        if paused:
            line = "[reverse] PAUSED " + time.strftime("%H:%M:%S", time.localtime(snapshot.ts))
            line += " [/reverse] " + " │ ".join(parts)
        self.update(line)
