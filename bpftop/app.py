"""The Textual app: layout, keys, and the timer that renders model snapshots.

Records arrive on the BPF thread and go straight into the Dashboard model under
a lock; the app renders a snapshot once per refresh. Status changes (a probe
attached or detached) also post a message so the screen follows a key at once.
"""

from __future__ import annotations

import asyncio
import functools
import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar, Protocol

from rich.color import ColorSystem
from textual import work
from textual._compositor import CompositorUpdate
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer

from bpftop.bundle import BundleError, default_directory, with_statuses, write_bundle
from bpftop.drilldown_actions import DrilldownActions
from bpftop.filters import SYNTAX, Filter, parse_filter
from bpftop.keys import bindings, help_lines
from bpftop.layout import COLLAPSED, SteadyWants, columns_for, pane_heights, serving_order
from bpftop.model.dashboard import Dashboard, DashboardSnapshot
from bpftop.model.history import DEFAULT_MINUTES, Frame, History
from bpftop.model.replay import Replay
from bpftop.panes.base import Pane
from bpftop.panes.connections import ConnectPane
from bpftop.panes.cpu import CpuPane
from bpftop.panes.denials import DenialsPane
from bpftop.panes.disks import DiskPane
from bpftop.panes.drilldown import DrilldownScreen
from bpftop.panes.execs import ExecPane
from bpftop.panes.format import clock, span
from bpftop.panes.header import HeaderLine
from bpftop.panes.help import HelpScreen
from bpftop.panes.prompt import PromptScreen
from bpftop.panes.xdp import XdpPane
from bpftop.process_info import ProcessInfo, watch_process
from bpftop.recording import RecordingHeader
from bpftop.records import ProbeStatus, Record, SystemSample
from bpftop.terminal_diff import TerminalCopy
from bpftop.themes import default_theme, load_themes, theme_names
from bpftop.timeline_actions import TimelineActions
from bpftop.uprobe_settings import BUDGET_PCT
from bpftop.xdp_rules import ControlArg, XdpRule, parse_rule

EXIT_GRACE_SECONDS = 3.0


def exit_anyway_after(seconds: float, code: int) -> None:
    """Leave even if a clean exit hangs: every attachment is an fd, so the kernel
    removes them all when the process goes, however it goes."""

    def leave() -> None:
        time.sleep(seconds)
        os._exit(code)

    threading.Thread(target=leave, name="exit-watchdog", daemon=True).start()


class Controller(Protocol):
    """What the app may ask of a record source (the BPF engine, or a recording)."""

    def set_enabled(self, name: str, on: bool) -> None: ...

    def configure(self, name: str, setting: str, value: float) -> None: ...

    def control(self, name: str, action: str, arg: ControlArg) -> None: ...

    def set_filter(self, user_filter: Filter) -> None: ...

    def stop(self) -> None: ...


SourceFactory = Callable[[Callable[[Record], None]], Controller]


class BpftopApp(DrilldownActions, TimelineActions):
    CSS_PATH = "app.tcss"
    TITLE = "bpftop"
    ENABLE_COMMAND_PALETTE = False
    BINDINGS: ClassVar[list[BindingType]] = bindings("app")  # bpftop/keys.py

    class Alert(Message):
        """Something the user must hear about, from the BPF thread."""

        def __init__(self, text: str) -> None:
            super().__init__()
            self.text = text

    class StatusChanged(Message):
        """A probe changed state; repaint now rather than at the next tick."""

        def can_replace(self, message: Message) -> bool:
            return isinstance(message, BpftopApp.StatusChanged)

    def __init__(
        self,
        probe_names: tuple[str, ...],
        source: SourceFactory | None,
        *,
        clock: Callable[[], float] = time.time,
        sample_system: Callable[[], SystemSample] | None = None,
        refresh_seconds: float = 1.0,
        exit_after: float | None = None,
        disk_slow_ms: float = 0.0,
        exec_failures: bool = True,
        user_filter: Filter | None = None,
        drilldown_pid: int | None = None,
        watch_process: Callable[[int], Callable[[], ProcessInfo | None] | None] = watch_process,
        replay: Replay | None = None,
        history_minutes: float = DEFAULT_MINUTES,
        tap: Callable[[Record], None] | None = None,
        about: RecordingHeader | None = None,
        theme: str | None = None,
        notice: str | None = None,
        uprobe_budget: float = BUDGET_PCT,
    ) -> None:
        super().__init__()
        self.uprobe_budget = uprobe_budget
        self._probe_names = probe_names
        self._user_filter = user_filter or Filter()
        self._lock = threading.Lock()
        self.history_minutes = history_minutes
        self.new_dashboard()
        self.frozen: Frame | None = None
        self.rewound = False  # frozen by moving back in time, not by pausing
        self.replay = replay
        self._tap = tap
        # The recording header's facts (host, kernel, lockdown, plans): for bundles.
        self.about = about or RecordingHeader()
        self._notice = notice  # shown once the screen is up (a damaged recording)
        self._drilldown_at_start = drilldown_pid
        self._watch_process = watch_process
        self._source_factory = source
        self.controller: Controller | None = None
        self._clock = clock if replay is None else lambda: replay.position
        self._played_at = time.monotonic()
        self._sample_system = sample_system
        self._refresh_seconds = refresh_seconds
        self._exit_after = exit_after
        self._disk_slow_ms = disk_slow_ms
        self._exec_failures = exec_failures
        self._exit_signal: int | None = None
        self._steady_wants = SteadyWants()
        self._pane_wants: list[int] | None = None
        self._alarming: set[int] = set()
        self._terminal = TerminalCopy()
        for loaded in load_themes():
            self.register_theme(loaded)
        self.theme = theme or default_theme()

    def _display(self, screen: Screen[Any], renderable: Any) -> None:
        """Textual's write path (private, textual pinned in pyproject), cut down to
        the cells that changed on the terminal: see terminal_diff."""
        if isinstance(renderable, CompositorUpdate) and not self.is_headless:
            size = (self.size.width, self.size.height)
            color_system = self.console._color_system or ColorSystem.TRUECOLOR  # as Strip.render
            renderable = self._terminal.changes(renderable, size, color_system)
        super()._display(screen, renderable)

    def action_redraw(self) -> None:
        """ctrl+l, as in every terminal program: the screen was garbled (a write from
        outside, a terminal that dropped bytes): send all of it again."""
        self._terminal.forget()
        self.screen.refresh(repaint=True)

    def compose(self) -> ComposeResult:
        yield HeaderLine(id="header")
        # Two columns from WIDE_COLUMNS on; below that the first stacks above the second.
        with Horizontal(id="panes"):
            with Vertical(classes="column"):
                yield CpuPane(id="pane-cpu")
                yield ExecPane(id="pane-exec")
                yield ConnectPane(id="pane-connect")
            with Vertical(classes="column"):
                disk = DiskPane(id="pane-disk")
                disk.slow_ms = self._disk_slow_ms
                yield disk
                yield DenialsPane(id="pane-denials")
                yield XdpPane(id="pane-xdp")
        yield Footer()

    @property
    def dashboard_screen(self) -> Screen[object]:
        """The screen the panes live on. `self.query` would search the active screen,
        which is the help or a prompt while one is open (the timer still renders)."""
        return self.screen_stack[0]

    @property
    def panes(self) -> list[Pane]:
        return list(self.dashboard_screen.query(Pane))

    def on_mount(self) -> None:
        self.render_snapshot()
        self.set_interval(self._refresh_seconds, self.tick)
        if self._exit_after is not None:
            self.set_timer(self._exit_after, self.action_quit)
        if self._exit_signal is not None:  # signalled before the loop ran
            self.exit()
            return
        if self._notice:
            self.notify(self._notice, severity="warning", timeout=15)
        # Start the probes once the first frame is out: importing bcc and
        # compiling hold the GIL, which would delay the first paint.
        self.call_after_refresh(self._start_source)

    def leave_on_signals(self) -> None:
        """SIGINT, SIGTERM and SIGHUP (the terminal went away) quit cleanly, with a watchdog.

        Installed before `run()`: asyncio's own SIGINT handler only cancels the main task,
        which Textual swallows during start-up (bpftop then ran on after SIGINT). A plain
        handler, not loop.add_signal_handler: it runs even if the loop is stuck (seen once
        after a lost terminal: 100% CPU, SIGTERM ignored). Main thread only."""

        def on_signal(signum: int, _frame: object) -> None:
            self._exit_signal = signum
            exit_anyway_after(EXIT_GRACE_SECONDS, 128 + signum)
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                return  # not running yet: on_mount sees _exit_signal
            loop.call_soon_threadsafe(self.exit)

        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, on_signal)

    def new_dashboard(self) -> None:
        """Empty models (and history): at start, and when a replay seeks backwards."""
        with self._lock:
            self.dashboard = Dashboard(self._probe_names)
            self.dashboard.set_filter(self._user_filter)
            self.history = History(self.history_minutes)
            self.frozen = None

    def _start_source(self) -> None:
        if self._exit_signal is not None or self._source_factory is None:
            return
        self.controller = self._source_factory(self.sink)
        if self._drilldown_at_start is not None:
            self.open_drilldown(self._drilldown_at_start)

    def sink(self, record: Record) -> None:
        """Called from the BPF thread for every record (a replay's: from the UI thread)."""
        if self.replay is not None and not self.dashboard.filter.keeps(record):
            return  # live, the engine filtered it (in the kernel where it could)
        with self._lock:
            self.dashboard.apply(record)
            self.history.add_record(record)
        if self._tap is not None:
            self._tap(record)
        if isinstance(record, ProbeStatus):
            self.post_message(self.StatusChanged())
            if record.reason and record.reason.startswith("over budget"):
                self.post_message(self.Alert(f"uprobe detached, {record.reason}"))

    def on_bpftop_app_alert(self, message: Alert) -> None:
        self.notify(message.text, severity="warning", timeout=10)

    def on_disk_pane_slow_threshold_changed(self, message: DiskPane.SlowThresholdChanged) -> None:
        if self.controller is not None:
            self.controller.configure("disk", "slow_ms", message.slow_ms)

    def on_bpftop_app_status_changed(self, _message: StatusChanged) -> None:
        self.render_snapshot()

    def snapshot(self) -> DashboardSnapshot:
        with self._lock:
            return self.dashboard.snapshot(self._clock())

    def tick(self) -> None:
        if self._sample_system is not None:
            self.sink(self._sample_system())
        if self.replay is not None:
            now = time.monotonic()
            self.play(self.replay.advance(now - self._played_at))
            self._played_at = now
            snap = self.snapshot()
        else:
            with self._lock:
                snap = self.dashboard.snapshot(self._clock())
                self.history.add_frame(snap)
        if self.frozen is None:
            self.show_snapshot(snap)
        elif self.replay is not None:  # the header's REPLAY part shows the paused state
            self.show_snapshot(self.frozen.snapshot)

    def render_snapshot(self) -> None:
        """Show what is current: the live (or replayed) models, or the frozen frame."""
        self.show_snapshot(self.frozen.snapshot if self.frozen else self.snapshot())

    def show_snapshot(self, snap: DashboardSnapshot) -> None:
        header = self.dashboard_screen.query(HeaderLine)
        if not header:  # a last timer tick while the app tears its screens down
            return
        header.first().update_from(snap, banner=self.banner())
        for pane in self.panes:
            pane.update_from(snap)
        self.fit_panes(snap)
        if isinstance(self.screen, DrilldownScreen):
            self.screen.update_from(snap)

    def fit_panes(self, snap: DashboardSnapshot | None = None) -> None:
        """Give each pane its rows for this terminal (bpftop/layout.py). Heights are set
        only when they change: each change repaints the panes, bytes over the link."""
        panes = self.panes
        if snap is not None:
            self._pane_wants = self._steady_wants.add([p.wanted_lines() for p in panes])
            self._alarming = {i for i, p in enumerate(panes) if p.alarming(snap)}
        if self._pane_wants is None:
            return
        width, height = self.size
        columns = columns_for(width, len(panes))
        self.dashboard_screen.query_one("#panes").set_class(len(columns) > 1, "-wide")
        focused = self.focused
        on = next((i for i, p in enumerate(panes)
                   if focused is not None and focused in p.walk_children()), None)  # fmt: skip
        for column in columns:
            wants = [self._pane_wants[i] for i in column]
            order = serving_order(
                len(column),
                column.index(on) if on in column else None,
                {column.index(i) for i in self._alarming if i in column},
            )
            total = height - 2  # less the header and the footer
            for i, lines in zip(column, pane_heights(total, wants, order), strict=True):
                pane = panes[i]
                if pane.has_class("-maximized"):  # zoomed: the whole screen
                    lines = 0
                if getattr(pane, "_fitted", None) != lines:
                    pane.styles.height = lines or "1fr"
                    pane.set_class(lines == COLLAPSED, "-collapsed")
                    pane._fitted = lines  # type: ignore[attr-defined]

    def on_resize(self) -> None:
        self.fit_panes()

    def on_descendant_focus(self) -> None:
        self.fit_panes()  # the focused pane is served first

    def banner(self) -> list[str]:
        """What the header says about time: REPLAY and its clock, PAUSED or REWIND."""
        out = []
        if self._tap is not None and self.replay is None:
            out.append("REC")  # --record is writing every record to its file
        if self.replay is not None:
            r = self.replay
            state = "end" if r.finished else (f"{r.speed:g}x" if r.playing else "paused")
            out.append(f"REPLAY {clock(r.position)} {state} "
                       f"{span(r.position - r.start)}/{span(r.end - r.start)}")  # fmt: skip
        newest = self.history.newest
        if self.frozen is not None and newest is not None:
            if self.rewound:
                behind = span(newest.ts - self.frozen.ts)
                out.append(f"REWIND {clock(self.frozen.ts)} -{behind} [ ] p:live")
            elif self.replay is None:
                out.append(f"PAUSED {clock(self.frozen.ts)}")
        return out

    # -- actions -----------------------------------------------------------------
    def action_toggle_probe(self, name: str) -> None:
        if self.controller is None:
            return
        state = self.dashboard.probes.get(name)
        on = state is None or state.state in ("detached", "unavailable")
        self.controller.set_enabled(name, on)

    def action_disk_slow(self) -> None:
        self.dashboard_screen.query_one(DiskPane).cycle_slow_threshold()

    def action_exec_failures(self) -> None:
        if self.controller is None:
            return
        self._exec_failures = not self._exec_failures
        self.controller.configure("exec", "failures", float(self._exec_failures))
        self.notify(f"failed execs {'on' if self._exec_failures else 'off'}", timeout=3)

    def action_xdp_attach(self) -> None:
        ifname = self.dashboard_screen.query_one(XdpPane).selected_interface()
        if self.controller is None or ifname is None:
            return
        own = self.dashboard.xdp.own_attached(ifname)
        self.controller.control("xdp", "detach" if own else "attach", ifname)

    def action_xdp_drop(self) -> None:
        ifname = self.dashboard_screen.query_one(XdpPane).selected_interface()
        if self.controller is None or ifname is None:
            return
        if not self.dashboard.xdp.own_attached(ifname):
            self.notify(f"bpftop's XDP program is not on {ifname}: press a to attach it")
            return
        controller = self.controller

        def add(rule: str | None) -> None:
            if rule:
                controller.control("xdp", "rule", XdpRule(ifname, parse_rule(rule)))

        self.push_screen(PromptScreen(f"Drop rule for bpftop's XDP program on {ifname}:",
                                      parse_rule), add)  # fmt: skip

    def action_xdp_clear(self) -> None:
        ifname = self.dashboard_screen.query_one(XdpPane).selected_interface()
        if self.controller is not None and ifname and self.dashboard.xdp.own_attached(ifname):
            self.controller.control("xdp", "clear_rules", ifname)
            self.notify(f"drop rules on {ifname} removed")

    # -- filter ------------------------------------------------------------------
    def action_filter(self) -> None:
        replay = self.replay is not None  # terms are checked against the recording, not the box
        parse = functools.partial(parse_filter, replay=replay)

        def apply(text: str | None) -> None:
            if text is None:
                return
            user_filter = self._user_filter = parse(text)
            with self._lock:
                self.dashboard.set_filter(user_filter)
            if self.controller is not None:
                self.controller.set_filter(user_filter)
            self.render_snapshot()

        prompt = PromptScreen(
            f"Filter (empty clears): {SYNTAX}", parse, value=self.dashboard.filter.text
        )
        self.push_screen(prompt, apply)

    def action_bundle(self) -> None:
        svg = self.export_screenshot()  # the screen as it is, frozen or not
        with self._lock:
            records = with_statuses(self.history.statuses, list(self.history.records()))
            events_since = self.history.events_since()
            lost = {name: state.lost for name, state in self.dashboard.probes.items()}
        self._write_bundle(default_directory(self.about.host), svg, records,
                           events_since, lost)  # fmt: skip

    @work(thread=True, exclusive=True, group="bundle", exit_on_error=False)
    def _write_bundle(self, directory: Path, svg: str, records: list[Record],
                      events_since: float | None, lost: dict[str, int]) -> None:  # fmt: skip
        try:
            write_bundle(directory, svg=svg, about=self.about, records=records,
                         events_since=events_since, lost=lost)  # fmt: skip
        except BundleError as exc:
            self.call_from_thread(self.notify, str(exc), severity="error", timeout=10)
            return
        self.call_from_thread(self.notify, f"bundle written: {directory}", timeout=10)

    def action_next_theme(self) -> None:
        names = theme_names()
        index = names.index(self.theme) + 1 if self.theme in names else 0
        self.theme = names[index % len(names)]
        self.render_snapshot()  # the panes' meaningful colours come from the theme
        self.notify(f"theme {self.theme}", timeout=2)

    def action_zoom(self) -> None:
        if self.screen.maximized is not None:
            self.screen.minimize()
            self.fit_panes()
            return
        focused = self.focused
        pane = next(
            (p for p in self.panes if focused is not None and focused in p.walk_children()), None
        )
        self.screen.maximize(pane or self.panes[0], container=False)
        self.fit_panes()

    def action_help(self) -> None:
        keys = [(" / ".join(self.get_key_display(Binding(k, "")) for k in names.split(",")), text)
                for names, text in help_lines()]  # fmt: skip
        self.push_screen(HelpScreen(keys))

    async def action_quit(self) -> None:
        await self.stop_source()
        self.exit(0)

    async def stop_source(self) -> None:
        if self.controller is not None:
            controller, self.controller = self.controller, None
            await asyncio.to_thread(controller.stop)

    async def on_unmount(self) -> None:
        await self.stop_source()
