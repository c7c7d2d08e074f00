"""The per-pid drilldown: who the process is, its syscalls (strace -c), the
functions picked for uprobes, and the other panes' events for it.

The screen renders what the app hands it (a dashboard snapshot and the psutil
view); keys that change probes go through its DrilldownControl, which talks to the
record source. Leaving the screen is what detaches its probes (the app's dismiss
callback).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from bpftop.catalog import KEY_TABLE
from bpftop.core.format import clock, latency_us, rate, size
from bpftop.host.process_info import ProcessInfo
from bpftop.model.dashboard import DashboardSnapshot
from bpftop.model.drilldown import DrilldownSnapshot, FunctionView
from bpftop.model.probe_state import ProbeState
from bpftop.panes.keys import bindings, key_of
from bpftop.panes.palette import Palette, palette_of
from bpftop.panes.shown import RowTable, set_titles, show
from bpftop.screens.picker import PickerScreen

if TYPE_CHECKING:
    from bpftop.screens.drilldown_control import DrilldownControl, Notice

# Most telling first: at 80 columns the two tables share the width and cut the right.
SYSCALL_COLUMNS = ("SYSCALL", "CALLS", "ERR", "TOTAL", "%TIME", "AVG", "ERRNO", "RATE")
# COST: % of one CPU the probe took from the process (calls x the trap price measured).
# Second, so 80 columns show it: on a production process it is the first question.
# Calls, P50 and P99 since the drilldown opened (RATE: the last interval). The
# percentiles are the bounds of the histogram's buckets they fall in, hence the "≤".
FUNCTION_COLUMNS = ("FUNCTION", "COST", "CALLS", "P50≤", "P99≤", "RATE", "FILE")
# What the bottom table shows, in the order `o` goes through them, and its columns.
BOTTOM_VIEWS = {
    "events": ("TIME", "KIND", "DETAIL"),
    "files": ("", "KIND", "WHAT"),
    "latency": ("LATENCY", "RETURNS", ""),
}
HIST_BAR = 40
MAX_EVENTS = 200


class DrilldownScreen(Screen[None]):
    DEFAULT_CSS = """
    DrilldownScreen { layout: vertical; }
    DrilldownScreen #dd-info {
        height: auto; max-height: 3; padding: 0 1; background: $panel;
        text-wrap: nowrap; text-overflow: ellipsis;
    }
    DrilldownScreen Horizontal { height: 1fr; }
    DrilldownScreen .dd-box {
        border: round $secondary; border-title-color: $text; border-title-style: bold;
        border-subtitle-color: $text-muted; height: 1fr;
    }
    DrilldownScreen #dd-syscalls-box { width: 3fr; }
    DrilldownScreen #dd-functions-box { width: 2fr; }
    DrilldownScreen .dd-box DataTable { height: 1fr; scrollbar-size-horizontal: 0; }
    """
    BINDINGS: ClassVar[list[BindingType]] = bindings("drilldown", KEY_TABLE)  # bpftop/panes/keys.py

    def __init__(
        self, pid: int, read_process: Callable[[], ProcessInfo | None], control: DrilldownControl
    ) -> None:
        super().__init__()
        self.pid = pid
        self._control = control
        self._read_process = read_process
        self.info: ProcessInfo | None = None
        self.exited = False
        self.view = "events"  # the bottom table: one of BOTTOM_VIEWS
        self.picked_function: str | None = None  # the highlighted row of the functions
        self._last: DashboardSnapshot | None = None
        self._mounted = False  # the app may render before the screen is up

    def compose(self) -> ComposeResult:
        yield Static(id="dd-info")
        with Horizontal():
            with Vertical(id="dd-syscalls-box", classes="dd-box"):
                yield RowTable(id="dd-syscalls", cursor_type="row")
            with Vertical(id="dd-functions-box", classes="dd-box"):
                yield RowTable(id="dd-functions", cursor_type="row")
        with Vertical(id="dd-events-box", classes="dd-box"):
            yield RowTable(id="dd-events", cursor_type="row")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#dd-syscalls", RowTable).add_columns(*SYSCALL_COLUMNS)
        self.query_one("#dd-functions", RowTable).add_columns(*FUNCTION_COLUMNS)
        self.query_one("#dd-events", RowTable).add_columns(*BOTTOM_VIEWS[self.view])
        self._mounted = True
        if self._last is not None:
            self.update_from(self._last)
        else:
            self.refresh_process()

    # -- the process, read off the UI thread ---------------------------------------
    @work(thread=True, exclusive=True, exit_on_error=False, group="process-info")
    def refresh_process(self) -> None:
        info = self._read_process()
        self.app.call_from_thread(self.show_process, info)

    def show_process(self, info: ProcessInfo | None) -> None:
        """The latest psutil view; None once the process is gone (the last view stays)."""
        if info is None:
            self.exited = True
        else:
            self.info = info
        self._render_info()
        if self._last is not None:
            self._fill_bottom(self._last)

    def _render_info(self) -> None:
        """Three lines, each cut at the edge rather than wrapped (80x24 has no room)."""
        text = Text(no_wrap=True, overflow="ellipsis")
        info = self.info
        if self.exited:
            text.append(" EXITED ", style=f"reverse {palette_of(self).bad}")
            text.append(" ")
        if info is None:
            text.append(f"pid {self.pid}", style="bold")
            text.append("  (no process information)" if not self.exited else "")
            show(self.query_one("#dd-info", Static), text)
            return
        text.append(f"pid {info.pid} {info.name}", style="bold")
        fds = "?" if info.fds is None else info.fds
        text.append(
            f" │ {info.user} │ cpu {info.cpu_percent:.1f}% │ rss {size(info.rss_bytes)}"
            f" │ {info.threads} thr │ started {clock(info.started)} │ fds {fds}"
            f" │ sockets {len(info.sockets)}\n"
        )
        text.append(" ".join(info.cmdline.split()), style="italic")
        chain = " ← ".join(f"{pid} {name}" for pid, name in info.parents[:4])
        where = f"cgroup {info.cgroup}" if info.cgroup else ""
        if info.container:
            where += f" (container {info.container})"
        text.append(f"\nparents {chain or '-'}   {where}")
        show(self.query_one("#dd-info", Static), text)

    # -- live data ---------------------------------------------------------------------
    def update_from(self, snapshot: DashboardSnapshot) -> None:
        self._last = snapshot
        if not self._mounted:
            return
        drill = snapshot.drilldown
        if drill is not None and drill.pid == self.pid:
            self.exited |= drill.exited
            self._fill_syscalls(drill)
            self._fill_functions(drill)
        self._fill_bottom(snapshot)
        self.refresh_process()

    def _fill_syscalls(self, drill: DrilldownSnapshot) -> None:
        box = self.query_one("#dd-syscalls-box")
        state = drill.probes.get("syscalls")
        total = sum(s.calls for s in drill.syscalls)
        set_titles(box, f"Syscalls {total} calls", _probe_line(state))
        rows = []
        all_us = sum(s.total_us for s in drill.syscalls) or 1.0
        bad = palette_of(self).bad
        for s in drill.syscalls:
            failed = sum(s.errors.values())
            errnos = " ".join(f"{name}:{n}" for name, n in sorted(s.errors.items()))
            rows.append((
                s.syscall, str(s.calls), Text(str(failed), style=bad) if failed else "",
                latency_us(s.total_us), f"{100 * s.total_us / all_us:.1f}", latency_us(s.avg_us),
                Text(errnos, style=bad), rate(s.per_second),
            ))  # fmt: skip
        self.query_one("#dd-syscalls", RowTable).show_rows(rows)

    def _fill_functions(self, drill: DrilldownSnapshot) -> None:
        box = self.query_one("#dd-functions-box")
        state = drill.probes.get("uprobes")
        set_titles(box, f"Functions {len(drill.functions)} · since opened",
                   _probe_line(state))  # fmt: skip
        rows: list[tuple[str | Text, ...]] = [
            (
                f.symbol, _cost(f.cost_pct, palette_of(self)), str(f.calls),
                latency_us(f.p50_us), latency_us(f.p99_us), rate(f.per_second), f.target,
            )
            for f in drill.functions
        ]  # fmt: skip
        if not rows:
            hint = Text(f"{key_of('drilldown-uprobe')}: pick functions", style="dim")
            rows = [(hint, "", "", "", "", "", "")]
        self.query_one("#dd-functions", RowTable).show_rows(rows)

    def _fill_bottom(self, snapshot: DashboardSnapshot) -> None:
        box = self.query_one("#dd-events-box")
        rows: list[tuple[Any, ...]]
        if self.view == "files":
            info = self.info
            rows = [("", "socket", s) for s in (info.sockets if info else ())]
            rows += [("", "file", f) for f in (info.files if info else ())]
            set_titles(box, f"Open sockets and files · {key_of('drilldown-files')}: latency")
        elif self.view == "latency":
            drill = snapshot.drilldown
            functions = drill.functions if drill and drill.pid == self.pid else ()
            picked = next((f for f in functions if f.symbol == self.picked_function), None)
            picked = picked or (functions[0] if functions else None)
            rows = latency_rows(picked, palette_of(self)) if picked else []
            name = picked.symbol if picked else "(no function probed)"
            set_titles(box, f"Latency of {name} since opened (pick it above) · "
                            f"{key_of('drilldown-files')}: events")  # fmt: skip
        else:
            rows = pid_events(snapshot, self.pid)
            set_titles(box, f"Events of pid {self.pid} and its children · "
                            f"{key_of('drilldown-files')}: open files")  # fmt: skip
        table = self.query_one("#dd-events", RowTable)
        labels = BOTTOM_VIEWS[self.view]
        if tuple(str(c.label) for c in table.columns.values()) != labels:
            table.clear(columns=True)
            table.add_columns(*labels)
            # A cursor would paint over the first bar of the histogram.
            table.cursor_type = "none" if self.view == "latency" else "row"
        table.show_rows(rows[:MAX_EVENTS])

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        """The highlighted function is the one whose latency the bottom table shows."""
        if event.data_table.id != "dd-functions" or self._last is None:
            return
        drill = self._last.drilldown
        functions = drill.functions if drill else ()
        if event.cursor_row < len(functions):
            symbol = functions[event.cursor_row].symbol
            if symbol != self.picked_function:
                self.picked_function = symbol
                if self.view == "latency":
                    self._fill_bottom(self._last)

    # -- keys --------------------------------------------------------------------------
    def action_close(self) -> None:
        self.dismiss(None)

    def tell(self, notice: Notice | None) -> None:
        if notice is not None:
            notice.show(self.notify)

    def action_pick_function(self) -> None:
        self._list_functions()

    @work(thread=True, exclusive=True, exit_on_error=False, group="functions")
    def _list_functions(self) -> None:
        """Read off the UI thread: a few ms per mapped file."""
        entries, notices, files = self._control.list_functions(self.pid)
        for notice in notices:
            self.app.call_from_thread(self.tell, notice)
        if entries is not None:
            title = f"Uprobe on which function of pid {self.pid}? ({files} files mapped)"
            self.app.call_from_thread(self.app.push_screen, PickerScreen(title, entries),
                                      self._attach_uprobe)  # fmt: skip

    def _attach_uprobe(self, spec: str | None) -> None:
        if spec is not None:
            self.tell(self._control.attach(self.pid, spec))

    def action_preset(self, name: str) -> None:
        self.tell(self._control.preset(self.pid, name))

    def action_detach_all(self) -> None:
        self._control.detach_all()

    def action_budget(self) -> None:
        self.tell(self._control.next_budget())

    def action_next_view(self) -> None:
        views = list(BOTTOM_VIEWS)
        self.view = views[(views.index(self.view) + 1) % len(views)]
        if self._last is not None:
            self._fill_bottom(self._last)


def _probe_line(state: ProbeState | None) -> str:
    if state is None:
        return "starting…"
    if state.state == "attached":
        return state.describe_plan()
    if state.reason:
        return f"{state.state}: {state.reason}"
    return state.state


def _cost(pct: float | None, palette: Palette) -> Text:
    """The probe's cost to the process: marked from 1% of a CPU (half the default budget)."""
    if pct is None:
        return Text("-", style="dim")
    return Text(f"{pct:.1f}%" if pct >= 0.1 else "<0.1%", style=palette.warn if pct >= 1 else "")


def latency_rows(function: FunctionView, palette: Palette) -> list[tuple[Any, ...]]:
    """The function's return latencies as a log2 histogram: range, count, bar."""
    if not function.hist:
        return [("", "", Text("no returns yet (USDT probes have no latency)", style="dim"))]
    top = max(count for _, _, count in function.hist)
    rows: list[tuple[Any, ...]] = []
    for low, high, count in function.hist:
        bar = "█" * max(1, round(count / top * HIST_BAR))
        label = f"{latency_us(low) if low else '0'}-{latency_us(high)}"
        rows.append((label, str(count), Text(bar, style=palette.latency(low))))
    return rows


def pid_events(snapshot: DashboardSnapshot, pid: int) -> list[tuple[Any, ...]]:
    """Every pane's rows about `pid` (its snapshot's pid_events): summaries over a
    window first, then events, newest first."""
    events = [e for view in snapshot.views.values() for e in view.pid_events(pid)]
    summaries = [(e.when, e.kind, e.detail) for e in events if e.when is not None]
    timed = sorted((e for e in events if e.when is None), key=lambda e: e.ts, reverse=True)
    return [*reversed(summaries), *((clock(e.ts), e.kind, e.detail) for e in timed)]
