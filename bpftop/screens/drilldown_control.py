"""What the drilldown asks of the record source and the models: the pid's probes
attached when it opens, uprobes by spec, preset or USDT, the uprobe budget, and
everything it attached detached when it closes. A plain object: the app and the
drilldown screen call it and tell the user what it returns.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from bpftop.catalog import PID_PROBE_NAMES
from bpftop.core.commands import (
    Enable,
    SetTarget,
    SetUprobeBudget,
    UprobeAttach,
    UprobeClear,
    UprobePython,
    UprobeQueue,
)
from bpftop.core.filters import thread_group
from bpftop.core.uprobe_settings import BUDGET_STEPS, PRESETS
from bpftop.host.process_info import ProcessInfo
from bpftop.host.user_binaries import (
    UserCodeError,
    check_spec,
    functions,
    host_path,
    mapped_files,
    python_probes,
    resolve,
    usdt_probes,
)
from bpftop.model.timeline import Timeline
from bpftop.panes.keys import key_of
from bpftop.screens.sources import RecordSource

# USDT probes whose semaphore turns on a tracing mode of the runtime (spec endings).
TRACING_MODE_PROBES = (":python:line",)

ReadProcess = Callable[[], ProcessInfo | None]


@dataclass(frozen=True)
class Notice:
    """A line for the user, shown through Textual's notify (the app's or a screen's)."""

    text: str
    severity: Literal["information", "warning", "error"] = "information"
    timeout: float | None = None  # seconds; None: Textual's default

    def show(self, notify: Callable[..., object]) -> None:
        notify(self.text, severity=self.severity, timeout=self.timeout)


class DrilldownControl:
    def __init__(
        self,
        source: RecordSource,
        timeline: Timeline,
        watch_process: Callable[[int], ReadProcess | None],
    ) -> None:
        self.source = source
        self.timeline = timeline
        self._watch_process = watch_process

    @property
    def budget_pct(self) -> float:
        """% of one CPU, all of the target's uprobes together (the source's setting)."""
        return self.source.settings.uprobe_budget

    def open(self, pid: int) -> tuple[int, ReadProcess | None, list[Notice]]:
        """Attach the pid probes to `pid`'s process (a thread's pid: its process).
        (the pid drilled into, how to read it or None if there is no such process, what
        to tell the user)."""
        notices = []
        if refusal := self.source.drilldown_refusal():
            return pid, None, [Notice(refusal, "warning")]
        tgid = thread_group(pid)
        if tgid is not None and tgid != pid:
            notices.append(Notice(f"{pid} is a thread of process {tgid}: showing {tgid}"))
            pid = tgid
        read_process = self._watch_process(pid)
        if read_process is None:
            return pid, None, [*notices, Notice(f"no process with pid {pid}", "error")]
        with self.timeline.models() as models:
            models.open_drilldown(pid)
        self.source.submit(SetTarget(pid))
        for probe in PID_PROBE_NAMES:
            self.source.submit(Enable(probe, True))
        return pid, read_process, notices

    def close(self) -> None:
        """Leaving the drilldown detaches everything it attached."""
        self.source.submit(UprobeClear())
        for probe in PID_PROBE_NAMES:
            self.source.submit(Enable(probe, False))
        with self.timeline.models() as models:
            models.close_drilldown()

    def list_functions(self, pid: int) -> tuple[list[tuple[str, str]] | None, list[Notice], int]:
        """Every function and USDT probe the mapped files' symbol tables place (a few ms
        per file): (spec, label) entries (None: the maps cannot be read), problems, and
        how many files are mapped."""
        entries: list[tuple[str, str]] = []
        problems: list[str] = []
        try:
            files = mapped_files(pid)
        except UserCodeError as exc:
            return None, [Notice(str(exc), "error")], 0
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
        # e.g. a file the process maps that bpftop cannot read
        notices = [Notice("not listed: " + "; ".join(problems))] if problems else []
        return entries, notices, len(files)

    def attach(self, pid: int, spec: str) -> Notice | None:
        try:
            check_spec(pid, spec)  # refused here with a clear line, before the engine
        except UserCodeError as exc:
            return Notice(str(exc), "error")
        self.source.submit(UprobeAttach(spec))
        return None

    def preset(self, pid: int, name: str) -> Notice:
        if name == "usdt":
            return self._usdt_probes(pid)
        if name == "python":
            try:
                python_probes(pid)
            except (ValueError, OSError) as exc:
                return Notice(str(exc), "warning")
            self.source.submit(UprobePython())
            return Notice("Python functions: calls per function, under the uprobe budget")
        found, missing = [], []
        for spec in PRESETS[name]:
            try:
                mapped, symbol = resolve(pid, spec)
            except UserCodeError:
                missing.append(spec.split(":", 1)[1])
                continue
            found.append(f"{mapped.path}:{symbol}")
        if not found:
            return Notice(f"{name} is not loaded in pid {pid}", "warning")
        # One per interval while the probes' cost stays in the budget (uprobe_probe).
        self.source.submit(UprobeQueue(tuple(found)))
        note = f"; not found: {', '.join(missing)}" if missing else ""
        return Notice(f"{len(found)} functions, one a second while under the uprobe budget{note}")

    def _usdt_probes(self, pid: int) -> Notice:
        """Every USDT probe of the files the process maps, up to the free slots."""
        specs = []
        try:
            for mapped in mapped_files(pid):
                if not mapped.deleted:
                    path = host_path(pid, mapped)
                    specs += [f"usdt:{mapped.path}:{p.label}" for p in usdt_probes(path)]
        except (UserCodeError, OSError) as exc:
            return Notice(str(exc), "error")
        if not specs:
            return Notice(f"pid {pid} has no USDT probes", "warning")
        # A probe whose semaphore switches the runtime into a tracing mode (python:line
        # turns on Python's line tracing: every line of the program slows) only by name.
        wanted = [s for s in dict.fromkeys(specs) if not s.endswith(TRACING_MODE_PROBES)]
        skipped = len(dict.fromkeys(specs)) - len(wanted)
        self.source.submit(UprobeQueue(tuple(wanted)))
        by_name = key_of("drilldown-uprobe")
        note = f"; {skipped} that turn on a tracing mode left out ({by_name} attaches by name)"
        return Notice(f"{len(wanted)} USDT probes, one a second while under the uprobe "
                      f"budget{note if skipped else ''}")  # fmt: skip

    def next_budget(self) -> Notice:
        """b: the uprobe budget goes round BUDGET_STEPS (% of one CPU per target)."""
        later = [b for b in BUDGET_STEPS if b > self.budget_pct]
        self.source.submit(SetUprobeBudget(later[0] if later else BUDGET_STEPS[0]))
        return Notice(f"uprobe budget {self.budget_pct:g}% of a CPU: probes costing the "
                      "process more together are detached", timeout=4)  # fmt: skip

    def detach_all(self) -> None:
        self.source.submit(UprobeClear())
        with self.timeline.models() as models:
            if models.drilldown is not None:
                models.drilldown.forget_functions()
