"""CPU pane: who used the CPU in the last interval (sampled in the kernel, so
short-lived processes count), how long each waited for a CPU, and the box's
run-queue latency in the title."""

from __future__ import annotations

from rich.text import Text

from bpftop.core.format import latency_us, size, sparkline
from bpftop.core.records import CpuRecord
from bpftop.model.cpu import CpuSnapshot
from bpftop.model.dashboard import DashboardSnapshot
from bpftop.panes.base import Pane, Row


def _comm(row: CpuRecord) -> str:
    if row.pid is not None:
        return row.comm
    return f"{row.comm} ({row.procs} exited)" if row.procs > 1 else f"{row.comm} (exited)"


class CpuPane(Pane):
    columns = ("PID", "COMM", "CPU%", "RUNQ P99", "RSS", "STATE")
    default_sort = "CPU%"
    # Room for this many rows whenever anything ran: on a quiet box the busy processes
    # come and go (2 one second, 5 the next), and each new high would move every pane
    # below (all their lines again over the link).
    STEADY_ROWS = 6

    def wanted_lines(self) -> int:
        rows = self.rows_available
        return 1 + max(rows, self.STEADY_ROWS) if rows else 0

    def live_title(self, snapshot: DashboardSnapshot) -> str:
        cpu = snapshot.view("cpu", CpuSnapshot)
        runq = cpu.runq
        busy = "-" if cpu.box_busy_pct is None else f"{cpu.box_busy_pct:.0f}%"
        parts = [f"busy {busy}"]  # of the whole box, as the header's cpu
        if runq is not None:
            # Right-aligned at its full width: a growing one would shift the rest of the
            # title every second (all of it sent again over the link).
            spark = sparkline(cpu.runq_p99_history, 10).rjust(10)
            parts.append(f"run queue p50 {latency_us(runq.p50_us)} "
                         f"p99 {latency_us(runq.p99_us)} {spark}".rstrip())  # fmt: skip
        return " · ".join(parts)

    def alarming(self, snapshot: DashboardSnapshot) -> bool:
        """Tasks wait 10 ms or more for a CPU: the box is short of CPU."""
        runq = snapshot.view("cpu", CpuSnapshot).runq
        return runq is not None and (runq.p99_us or 0) >= 10_000

    def rows(self, snapshot: DashboardSnapshot, newest: int | None = None) -> list[Row]:
        palette = self.palette
        out = []
        # By pid first, and CPU% sorted as shown (one decimal): processes that show
        # the same share keep their places instead of swapping every refresh.
        for r in sorted(
            snapshot.view("cpu", CpuSnapshot).rows,
            key=lambda r: (r.pid is None, r.pid or 0, r.comm),
        ):
            out.append(
                Row(
                    cells=(
                        str(r.pid) if r.pid is not None else "-",
                        _comm(r),
                        Text(f"{r.cpu_pct:.1f}", style=palette.warn if r.cpu_pct >= 90 else ""),
                        Text(latency_us(r.runq_p99_us), style=palette.latency(r.runq_p99_us)),
                        size(r.rss_bytes) if r.rss_bytes is not None else "-",
                        r.state or "-",
                    ),
                    keys=(r.pid, r.comm, round(r.cpu_pct, 1), r.runq_p99_us, r.rss_bytes, r.state),
                    pid=r.pid,
                )
            )
        return out
