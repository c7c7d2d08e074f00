"""The Textual app: the keys, the record source and the timer that renders snapshots.

Records arrive on the BPF thread and go straight into the timeline's models under a
lock; the app renders a snapshot once per refresh. Status changes (a probe attached
or detached) also post a message so the screen follows a key at once. The dashboard
is a screen of its own (screens/dashboard.py); where records come from, live or a
recording, and the user's settings, are the source's business (screens/sources.py),
and the drilldown's work is its control's (screens/drilldown_control.py).
"""

from __future__ import annotations

import asyncio
import functools
import gc
import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar, cast

from rich.color import ColorSystem
from textual import work
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.screen import Screen

from bpftop.catalog import KEY_TABLE, new_dashboard
from bpftop.core.commands import (
    Enable,
    SetDiskSlow,
    SetExecFailures,
    SetFilter,
    XdpAddRule,
    XdpAttach,
    XdpClearRules,
    XdpDetach,
)
from bpftop.core.filters import SYNTAX
from bpftop.core.format import clip, size
from bpftop.core.records import OVER_BUDGET, ProbeStatus, Record
from bpftop.core.xdp_rules import XdpRule, parse_rule
from bpftop.host.process_info import ProcessInfo, watch_process
from bpftop.model.cpu import CpuModel
from bpftop.model.dashboard import DashboardSnapshot
from bpftop.model.history import DEFAULT_MINUTES
from bpftop.model.timeline import MOMENT_HELP, Timeline, parse_moment
from bpftop.model.xdp import XdpModel
from bpftop.outputs.bundle import BundleError, default_directory, with_statuses, write_bundle
from bpftop.panes.base import Pane
from bpftop.panes.disks import next_slow_threshold
from bpftop.panes.keys import REWIND_KEYS, bindings, help_lines, key_of
from bpftop.panes.textual_seam import CompositorUpdate, FilteredDisplay
from bpftop.panes.xdp import XdpPane
from bpftop.screens.dashboard import DashboardScreen
from bpftop.screens.drilldown import DrilldownScreen
from bpftop.screens.drilldown_control import DrilldownControl
from bpftop.screens.help import HelpScreen
from bpftop.screens.picker import PickerScreen
from bpftop.screens.prompt import PromptScreen
from bpftop.screens.sources import RecordSource
from bpftop.screens.terminal_diff import TerminalCopy
from bpftop.screens.themes import default_theme, load_themes, theme_names

EXIT_GRACE_SECONDS = 3.0
# Full garbage collections walk every tracked object, and the rewind history keeps
# tens of thousands (a snapshot a second, events up to its budget): at Python's default
# (one full pass per 10 of the middle generation) they were the TUI's CPU that grew
# with uptime, 2% to 5% of a CPU in 4 minutes under bench/storm.py. Fewer full passes:
# the records and snapshots are freed by reference counting, not by the collector,
# which only has Textual's few cycles to find.
FULL_COLLECTION_EVERY = 100  # middle-generation passes (Python's default: 10)


def exit_anyway_after(seconds: float, code: int) -> None:
    """Leave even if a clean exit hangs: every attachment is an fd, so the kernel
    removes them all when the process goes, however it goes."""

    def leave() -> None:
        time.sleep(seconds)
        os._exit(code)

    threading.Thread(target=leave, name="exit-watchdog", daemon=True).start()


class BpftopApp(FilteredDisplay[int]):
    CSS_PATH = "app.tcss"
    TITLE = "bpftop"
    ENABLE_COMMAND_PALETTE = False
    BINDINGS: ClassVar[list[BindingType]] = bindings("app", KEY_TABLE)  # bpftop/panes/keys.py

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
        source: RecordSource,
        *,
        refresh_seconds: float = 1.0,
        exit_after: float | None = None,
        drilldown_pid: int | None = None,
        watch_process: Callable[[int], Callable[[], ProcessInfo | None] | None] = watch_process,
        history_minutes: float = DEFAULT_MINUTES,
        tap: Callable[[Record], None] | None = None,
        theme: str | None = None,
        notice: str | None = None,
    ) -> None:
        """The user's settings (filter, disk threshold, ...) come from the source, which
        owns them (screens/sources.py)."""
        super().__init__()
        self.source = source
        self.timeline = Timeline(functools.partial(new_dashboard, probe_names),
                                 clock=source.now, history_minutes=history_minutes,
                                 user_filter=source.settings.filter)  # fmt: skip
        source.connect(self.sink)
        self.drilldown = DrilldownControl(source, self.timeline, watch_process)
        self._tap = tap
        self._notice = notice  # shown once the screen is up (a damaged recording)
        self._drilldown_at_start = drilldown_pid
        self._refresh_seconds = refresh_seconds
        self._exit_after = exit_after
        self._exit_signal: int | None = None
        self._terminal = TerminalCopy()
        for loaded in load_themes():
            self.register_theme(loaded)
        self.theme = theme or default_theme()

    def get_default_screen(self) -> Screen[Any]:
        return DashboardScreen(self.source)

    @property
    def dashboard_screen(self) -> DashboardScreen:
        """The screen the panes live on. `self.query` would search the active screen,
        which is the help or a prompt while one is open (the timer still renders)."""
        return cast(DashboardScreen, self.screen_stack[0])

    def filter_update(
        self, update: CompositorUpdate, size: tuple[int, int], color_system: ColorSystem
    ) -> CompositorUpdate | None:
        """Each screen update cut down to the cells that changed on the terminal."""
        return self._terminal.changes(update, size, color_system)

    def action_redraw(self) -> None:
        """ctrl+l, as in every terminal program: the screen was garbled (a write from
        outside, a terminal that dropped bytes): send all of it again."""
        self._terminal.forget()
        self.screen.refresh(repaint=True)

    def on_mount(self) -> None:
        # Back from a suspend (ctrl+z, fg): the shell drew on the terminal meanwhile.
        self.app_resume_signal.subscribe(self, lambda _app: self._terminal.forget())
        if not self.is_headless:  # a real terminal: not the tests' process, say
            # What start-up built (Textual, the panes) lives as long as bpftop: frozen
            # out of every later full collection.
            gc.collect()
            gc.freeze()
            thresholds = gc.get_threshold()
            gc.set_threshold(thresholds[0], thresholds[1], FULL_COLLECTION_EVERY)
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

    def _start_source(self) -> None:
        if self._exit_signal is not None:
            return
        self.source.start()
        if self._drilldown_at_start is not None:
            self.open_drilldown(self._drilldown_at_start)

    def sink(self, record: Record) -> None:
        """Called from the BPF thread for every record (a replay's: from the UI thread)."""
        self.timeline.add(record)
        if self._tap is not None:
            self._tap(record)
        if isinstance(record, ProbeStatus):
            self.post_message(self.StatusChanged())
            if record.code == OVER_BUDGET:
                self.post_message(self.Alert(f"uprobe detached, {record.reason}"))

    def on_bpftop_app_alert(self, message: Alert) -> None:
        self.notify(message.text, severity="warning", timeout=10)

    def on_bpftop_app_status_changed(self, _message: StatusChanged) -> None:
        self.render_snapshot()

    # -- rendering ------------------------------------------------------------------
    def tick(self) -> None:
        shown = self.source.refresh(self.timeline)
        if shown is not None:
            self.show_snapshot(shown)

    def render_snapshot(self) -> None:
        """Show what is current: the live (or replayed) models, or the frozen frame."""
        self.show_snapshot(self.timeline.shown())

    def show_snapshot(self, snap: DashboardSnapshot) -> None:
        self.dashboard_screen.show(snap, self.source.banner(self.timeline, REWIND_KEYS))
        if isinstance(self.screen, DrilldownScreen):
            self.screen.update_from(snap)

    # -- the probes -------------------------------------------------------------------
    def action_toggle_probe(self, name: str) -> None:
        if not self.source.changes_probes:
            return
        state = self.timeline.dashboard.probes.get(name)
        on = state is None or state.state in ("detached", "unavailable")
        self.source.submit(Enable(name, on))

    def action_disk_slow(self) -> None:
        slow_ms = next_slow_threshold(self.source.settings.disk_slow_ms)
        self.source.submit(SetDiskSlow(slow_ms))
        self.render_snapshot()  # the disk pane's title says it at once

    def action_exec_failures(self) -> None:
        if not self.source.changes_probes:
            return
        on = not self.source.settings.exec_failures
        self.source.submit(SetExecFailures(on))
        self.notify(f"failed execs {'on' if on else 'off'}", timeout=3)

    def _xdp_interface(self) -> str | None:
        """The XDP pane's selected interface, where the probes can be changed."""
        ifname = self.dashboard_screen.query_one(XdpPane).selected_interface()
        return ifname if self.source.changes_probes else None

    def action_xdp_attach(self) -> None:
        if (ifname := self._xdp_interface()) is None:
            return
        own = self.timeline.dashboard.model("xdp", XdpModel).own_attached(ifname)
        self.source.submit(XdpDetach(ifname) if own else XdpAttach(ifname))

    def action_xdp_drop(self) -> None:
        if (ifname := self._xdp_interface()) is None:
            return
        if not self.timeline.dashboard.model("xdp", XdpModel).own_attached(ifname):
            attach = key_of("xdp-attach")
            self.notify(f"bpftop's XDP program is not on {ifname}: press {attach} to attach it")
            return

        def add(rule: str | None) -> None:
            if rule:
                self.source.submit(XdpAddRule(XdpRule(ifname, parse_rule(rule))))

        self.push_screen(PromptScreen(f"Drop rule for bpftop's XDP program on {ifname}:",
                                      parse_rule), add)  # fmt: skip

    def action_xdp_clear(self) -> None:
        ifname = self._xdp_interface()
        if ifname and self.timeline.dashboard.model("xdp", XdpModel).own_attached(ifname):
            self.source.submit(XdpClearRules(ifname))
            self.notify(f"drop rules on {ifname} removed")

    # -- filter ------------------------------------------------------------------
    def action_filter(self) -> None:
        def apply(text: str | None) -> None:
            if text is None:
                return
            user_filter = self.source.parse_filter(text)
            self.timeline.set_filter(user_filter)
            self.source.submit(SetFilter(user_filter))
            self.render_snapshot()

        prompt = PromptScreen(f"Filter (empty clears): {SYNTAX}", self.source.parse_filter,
                              value=self.timeline.dashboard.filter.text)  # fmt: skip
        self.push_screen(prompt, apply)

    # -- time (what each key means live or in a replay: sources) ----------------------
    def action_pause(self) -> None:
        self.source.pause(self.timeline)
        self.render_snapshot()

    def action_step(self, frames: int) -> None:
        self.source.step(self.timeline, frames)
        self.render_snapshot()

    def action_spike(self) -> None:
        note = self.source.spike(self.timeline)
        self.render_snapshot()
        self.notify(note)

    def action_goto(self) -> None:
        anchor = self.source.moment_anchor(self.timeline)
        if anchor is None:
            return  # nothing to go to yet

        def go(text: str | None) -> None:
            if text:
                self.go_to(parse_moment(text, anchor))

        self.push_screen(PromptScreen(f"Go to: {MOMENT_HELP}", lambda t: parse_moment(t, anchor)),
                         go)  # fmt: skip

    def go_to(self, ts: float) -> None:
        """Go to `ts`; beyond what there is, to its edge, and say how far it reaches."""
        if note := self.source.go_to(self.timeline, ts):
            self.notify(note, timeout=5)
        self.render_snapshot()

    def action_speed(self, steps: int) -> None:
        if note := self.source.speed(steps):
            self.notify(note)
        self.render_snapshot()

    def action_seek(self, seconds: float) -> None:
        self.source.seek_by(self.timeline, seconds)
        self.render_snapshot()

    # -- the drilldown ----------------------------------------------------------------
    def on_pane_pid_picked(self, message: Pane.PidPicked) -> None:
        self.open_drilldown(message.pid)

    def action_pick_process(self) -> None:
        if refusal := self.source.drilldown_refusal():
            self.notify(refusal, severity="warning")
            return
        import psutil

        # CPU from the CPU pane's last interval (sampled in the kernel), busiest first.
        with self.timeline.models() as models:
            rows = models.model("cpu", CpuModel).snapshot().rows
        cpu = {row.pid: row.cpu_pct for row in rows if row.pid is not None}
        listed = []
        for p in psutil.process_iter(["pid", "username", "name", "cmdline", "memory_info"]):
            pid, mem = p.info["pid"], p.info["memory_info"]
            rss = mem.rss if mem is not None else 0
            share = f"{cpu[pid]:5.1f}" if pid in cpu else "    -"
            cmdline = clip(" ".join(" ".join(p.info["cmdline"] or []).split()), 50)
            label = (f"{pid:>7} {share}% {size(rss):>5}  {p.info['username'] or '?':<10} "
                     f"{p.info['name']}  {cmdline}")  # fmt: skip
            listed.append((cpu.get(pid, -1.0), rss, str(pid), label))
        listed.sort(reverse=True)
        entries = [(pid, label) for _cpu, _rss, pid, label in listed]

        def picked(pid: str | None) -> None:
            if pid is not None:
                self.open_drilldown(int(pid))

        title = "Drill into which process? (busiest first: PID CPU% RSS USER NAME)"
        self.push_screen(PickerScreen(title, entries), picked)

    def open_drilldown(self, pid: int) -> None:
        if isinstance(self.screen, DrilldownScreen):
            return  # one drilldown at a time
        pid, read_process, notices = self.drilldown.open(pid)
        for notice in notices:
            notice.show(self.notify)
        if read_process is None:
            return
        self.push_screen(DrilldownScreen(pid, read_process, self.drilldown),
                         lambda _result: self.drilldown.close())  # fmt: skip
        self.render_snapshot()

    # -- the rest -----------------------------------------------------------------------
    def action_bundle(self) -> None:
        svg = self.export_screenshot()  # the screen as it is, frozen or not
        with self.timeline.models() as models:
            history = self.timeline.history
            records = with_statuses(history.statuses, list(history.records()))
            events_since = history.events_since()
            lost = {name: state.lost for name, state in models.probes.items()}
        self._write_bundle(default_directory(self.source.header.host), svg, records,
                           events_since, lost)  # fmt: skip

    @work(thread=True, exclusive=True, group="bundle", exit_on_error=False)
    def _write_bundle(self, directory: Path, svg: str, records: list[Record],
                      events_since: float | None, lost: dict[str, int]) -> None:  # fmt: skip
        try:
            write_bundle(directory, svg=svg, about=self.source.header, records=records,
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
        if self.screen is self.dashboard_screen:
            self.dashboard_screen.zoom()

    def action_help(self) -> None:
        keys = [(" / ".join(self.get_key_display(Binding(k, "")) for k in names.split(",")), text)
                for names, text in help_lines(KEY_TABLE)]  # fmt: skip
        self.push_screen(HelpScreen(keys))

    async def action_quit(self) -> None:
        await self.stop_source()
        self.exit(0)

    async def stop_source(self) -> None:
        await asyncio.to_thread(self.source.stop)

    async def on_unmount(self) -> None:
        await self.stop_source()
