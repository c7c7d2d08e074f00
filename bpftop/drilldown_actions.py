"""The drilldown's side of the app: opening it for a pid, the function and
process pickers, presets, and detaching everything when it closes.

A mixin of BpftopApp, kept apart so app.py stays about the dashboard. It talks
to the record source (the engine) only through the app's `controller`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from textual import work
from textual.app import App

from bpftop.filters import thread_group
from bpftop.model.dashboard import Dashboard
from bpftop.panes.base import Pane
from bpftop.panes.drilldown import DrilldownScreen
from bpftop.panes.format import size
from bpftop.panes.picker import PickerScreen
from bpftop.probes.registry import PID_PROBE_NAMES
from bpftop.process_info import ProcessInfo
from bpftop.uprobe_settings import BUDGET_STEPS, PRESETS
from bpftop.user_binaries import (
    UserCodeError,
    check_spec,
    functions,
    host_path,
    mapped_files,
    python_probes,
    resolve,
    usdt_probes,
)

# USDT probes whose semaphore turns on a tracing mode of the runtime (spec endings).
TRACING_MODE_PROBES = (":python:line",)

if TYPE_CHECKING:
    import threading

    from bpftop.app import Controller
    from bpftop.model.replay import Replay


class DrilldownActions(App[int]):
    """What BpftopApp provides to this mixin."""

    dashboard: Dashboard
    controller: Controller | None
    replay: Replay | None
    _lock: threading.Lock
    _watch_process: Callable[[int], Callable[[], ProcessInfo | None] | None]
    uprobe_budget: float  # % of one CPU, all of the target's uprobes together

    def render_snapshot(self) -> None:
        raise NotImplementedError

    def on_pane_pid_picked(self, message: Pane.PidPicked) -> None:
        self.open_drilldown(message.pid)

    def _refused_in_a_replay(self) -> bool:
        if self.replay is not None:
            self.notify("a replay has no live process to drill into", severity="warning")
        return self.replay is not None

    def action_pick_process(self) -> None:
        if self._refused_in_a_replay():
            return
        import psutil

        # CPU from the CPU pane's last interval (sampled in the kernel), busiest first.
        with self._lock:
            rows = self.dashboard.cpu.snapshot().rows
        cpu = {row.pid: row.cpu_pct for row in rows if row.pid is not None}
        listed = []
        for p in psutil.process_iter(["pid", "username", "name", "cmdline", "memory_info"]):
            pid, mem = p.info["pid"], p.info["memory_info"]
            rss = mem.rss if mem is not None else 0
            share = f"{cpu[pid]:5.1f}" if pid in cpu else "    -"
            cmdline = " ".join(" ".join(p.info["cmdline"] or []).split())[:50]
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
        if self._refused_in_a_replay():
            return
        tgid = thread_group(pid)
        if tgid is not None and tgid != pid:
            self.notify(f"{pid} is a thread of process {tgid}: showing {tgid}")
            pid = tgid
        read_process = self._watch_process(pid)
        if read_process is None:
            self.notify(f"no process with pid {pid}", severity="error")
            return
        with self._lock:
            self.dashboard.open_drilldown(pid)
        if self.controller is not None:
            for probe in PID_PROBE_NAMES:
                self.controller.configure(probe, "pid", pid)
                self.controller.set_enabled(probe, True)
        self.push_screen(DrilldownScreen(pid, read_process), self._drilldown_closed)
        self.render_snapshot()

    def _drilldown_closed(self, _result: None = None) -> None:
        """Leaving the drilldown detaches everything it attached."""
        if self.controller is not None:
            self.controller.control("uprobes", "clear", "")
            for probe in PID_PROBE_NAMES:
                self.controller.set_enabled(probe, False)
        with self._lock:
            self.dashboard.close_drilldown()

    def on_drilldown_screen_pick_function(self, _message: DrilldownScreen.PickFunction) -> None:
        screen = self.screen
        if isinstance(screen, DrilldownScreen):
            self._list_functions(screen.pid)

    @work(thread=True, exclusive=True, exit_on_error=False, group="functions")
    def _list_functions(self, pid: int) -> None:
        """Every function the mapped files' symbol tables place (a few ms per file)."""
        entries: list[tuple[str, str]] = []
        problems: list[str] = []
        try:
            files = mapped_files(pid)
        except UserCodeError as exc:
            self.call_from_thread(self.notify, str(exc), severity="error")
            return
        for mapped in files:
            try:
                names = functions(host_path(pid, mapped))
                probes = usdt_probes(host_path(pid, mapped))
            except (UserCodeError, OSError) as exc:
                problems.append(f"{mapped.label}: {exc}")
                continue
            marker = " (replaced since start: refused)" if mapped.deleted else ""
            for probe in probes:
                entries.append((f"usdt:{mapped.path}:{probe.label}",
                                f"{mapped.label} usdt:{probe.label}{marker}"))  # fmt: skip
            for name in sorted(names):
                entries.append((f"{mapped.path}:{name}", f"{mapped.label}:{name}{marker}"))
        if problems:  # e.g. a file the process maps that bpftop cannot read
            self.call_from_thread(self.notify, "not listed: " + "; ".join(problems))
        title = f"Uprobe on which function of pid {pid}? ({len(files)} files mapped)"
        self.call_from_thread(self.push_screen, PickerScreen(title, entries), self._attach_uprobe)

    def _attach_uprobe(self, spec: str | None) -> None:
        screen = self.screen
        if spec is None or self.controller is None or not isinstance(screen, DrilldownScreen):
            return
        try:
            check_spec(screen.pid, spec)  # refused here with a clear line, before the engine
        except UserCodeError as exc:
            self.notify(str(exc), severity="error")
            return
        self.controller.control("uprobes", "attach", spec)

    def on_drilldown_screen_preset(self, message: DrilldownScreen.Preset) -> None:
        screen = self.screen
        if self.controller is None or not isinstance(screen, DrilldownScreen):
            return
        if message.name == "usdt":
            self._attach_usdt_probes(screen.pid)
            return
        if message.name == "python":
            try:
                python_probes(screen.pid)
            except (ValueError, OSError) as exc:
                self.notify(str(exc), severity="warning")
                return
            self.controller.control("uprobes", "python", "")
            self.notify("Python functions: calls per function, under the uprobe budget")
            return
        found, missing = [], []
        for spec in PRESETS[message.name]:
            try:
                mapped, symbol = resolve(screen.pid, spec)
            except UserCodeError:
                missing.append(spec.split(":", 1)[1])
                continue
            found.append(f"{mapped.path}:{symbol}")
        if not found:
            self.notify(f"{message.name} is not loaded in pid {screen.pid}", severity="warning")
            return
        # One per interval while the probes' cost stays in the budget (uprobe_probe).
        self.controller.control("uprobes", "queue", "\n".join(found))
        note = f"; not found: {', '.join(missing)}" if missing else ""
        self.notify(f"{len(found)} functions, one a second while under the uprobe budget{note}")

    def _attach_usdt_probes(self, pid: int) -> None:
        """Every USDT probe of the files the process maps, up to the free slots."""
        assert self.controller is not None
        specs = []
        try:
            for mapped in mapped_files(pid):
                if not mapped.deleted:
                    path = host_path(pid, mapped)
                    specs += [f"usdt:{mapped.path}:{p.label}" for p in usdt_probes(path)]
        except (UserCodeError, OSError) as exc:
            self.notify(str(exc), severity="error")
            return
        if not specs:
            self.notify(f"pid {pid} has no USDT probes", severity="warning")
            return
        # A probe whose semaphore switches the runtime into a tracing mode (python:line
        # turns on Python's line tracing: every line of the program slows) only by name.
        wanted = [s for s in dict.fromkeys(specs) if not s.endswith(TRACING_MODE_PROBES)]
        skipped = len(dict.fromkeys(specs)) - len(wanted)
        self.controller.control("uprobes", "queue", "\n".join(wanted))
        note = (
            f"; {skipped} that turn on a tracing mode left out (u attaches by name)"
            if skipped
            else ""
        )
        self.notify(f"{len(wanted)} USDT probes, one a second while under the uprobe budget{note}")

    def on_drilldown_screen_next_budget(self, _message: DrilldownScreen.NextBudget) -> None:
        """b: the uprobe budget goes round BUDGET_STEPS (% of one CPU per target)."""
        if self.controller is None:
            return
        later = [b for b in BUDGET_STEPS if b > self.uprobe_budget]
        self.uprobe_budget = later[0] if later else BUDGET_STEPS[0]
        self.controller.configure("uprobes", "budget_pct", self.uprobe_budget)
        self.notify(f"uprobe budget {self.uprobe_budget:g}% of a CPU: probes costing the "
                    "process more together are detached", timeout=4)  # fmt: skip

    def on_drilldown_screen_detach_all(self, _message: DrilldownScreen.DetachAll) -> None:
        if self.controller is not None:
            self.controller.control("uprobes", "clear", "")
        with self._lock:
            if self.dashboard.drilldown is not None:
                self.dashboard.drilldown.forget_functions()
