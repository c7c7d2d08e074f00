"""The header line: the box at a glance and what bpftop costs it."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from bpftop.core.format import duration
from bpftop.model.cpu import CpuSnapshot
from bpftop.model.dashboard import DashboardSnapshot
from bpftop.panes.shown import show

SEPARATOR = " │ "


class HeaderLine(Static):
    DEFAULT_CSS = """
    HeaderLine { height: 1; background: $panel; color: $text; padding: 0 1; }
    """

    def update_from(self, snapshot: DashboardSnapshot, *, banner: list[str] | None = None) -> None:
        """`banner`: what the app says about time (REPLAY, PAUSED, REWIND), shown first."""
        self._snapshot, self._banner = snapshot, banner or []
        line = self._line(self.size.width - 2 if self.size.width else 200)
        show(self, line, layout=False)  # one line, the screen's width: its size never changes

    def on_resize(self) -> None:
        if getattr(self, "_snapshot", None) is not None:
            show(self, self._line(self.size.width - 2), layout=False)

    def _line(self, width: int) -> Text:
        """The full line where it fits; a compact one on narrow terminals (80x24 over SSH)."""
        snapshot, s = self._snapshot, self._snapshot.system
        cpu = box_cpu(snapshot)
        probes = f"probes {snapshot.attached_count}/{len(snapshot.probes)}"
        bpf = f"bpf {snapshot.bpf_cpu_percent:.2f}%"
        wide: list[str] = []
        narrow: list[str] = []
        if s is not None:
            load = " ".join(f"{x:.2f}" for x in s.load)
            wide = [
                f"{s.host} {s.kernel}",
                f"up {duration(s.uptime_s)}",
                f"load {load}",
                f"cpu {cpu}",
                f"mem {s.mem_percent:.0f}%",
                probes,
                f"bpftop {s.self_cpu_percent:.1f}% {bpf}",
            ]
            narrow = [
                s.host,
                f"load {s.load[0]:.2f}",
                f"cpu {cpu} mem {s.mem_percent:.0f}%",
                probes,
                f"self {s.self_cpu_percent:.1f}% {bpf}",
            ]
        else:
            wide = narrow = [probes, bpf]
        text = Text()
        for part in self._banner:
            text.append(f" {part} ", style="reverse bold")
            text.append(" ")
        if not snapshot.filter.empty:  # first, so a narrow terminal still shows it
            text.append(f" FILTER {snapshot.filter.text} ", style="reverse")
            text.append(" ")
        body = SEPARATOR.join(wide)
        if len(body) + len(text) > width:
            body = SEPARATOR.join(narrow)
        text.append(body)
        return text


def box_cpu(snapshot: DashboardSnapshot) -> str:
    """The box's CPU: the CPU pane's own figure while its probe runs (the same samples,
    the same interval, so the two never disagree; "-" before its first interval), else
    what psutil measured between two refreshes."""
    cpu_probe = snapshot.probes.get("cpu")
    if cpu_probe is not None and cpu_probe.attached:
        busy = snapshot.view("cpu", CpuSnapshot).box_busy_pct
        return "-" if busy is None else f"{busy:.0f}%"
    system = snapshot.system
    return "-" if system is None else f"{system.cpu_percent:.0f}%"
