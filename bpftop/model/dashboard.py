"""The whole dashboard's state: routes each record to the model that owns it.

The TUI, replay and tests feed records through `apply()` and read `snapshot()`;
that one path is what the panes render. Which models there are, and which records
each takes, comes from the panes' descriptors (bpftop/catalog.py): nothing here is
particular to a pane.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from bpftop.core.filters import Filter
from bpftop.core.records import (
    ProbeCounts,
    ProbeStatus,
    Record,
    SyscallsRecord,
    SystemSample,
    UprobeRecord,
)
from bpftop.model.drilldown import DrilldownModel, DrilldownSnapshot
from bpftop.model.pane_model import PaneModel, PaneSnapshot
from bpftop.model.probe_state import ProbeState

T = TypeVar("T")
ModelFactories = Mapping[str, Callable[[], PaneModel]]  # pane name -> its model's class


@dataclass(frozen=True)
class DashboardSnapshot:
    ts: float  # the model clock when the snapshot was taken
    system: SystemSample | None
    probes: dict[str, ProbeState]
    views: dict[str, PaneSnapshot]  # each pane's snapshot, by pane name
    filter: Filter = field(default_factory=Filter)
    drilldown: DrilldownSnapshot | None = None

    def view(self, name: str, kind: type[T]) -> T:
        """The snapshot of pane `name`, typed: `snap.view("exec", ExecSnapshot)`."""
        view: Any = self.views[name]
        assert isinstance(view, kind), f"pane {name!r} holds a {type(view).__name__}"
        return view

    def trimmed(self, keep: int) -> DashboardSnapshot:
        """Each pane's event lists cut to its newest `keep` rows (a rewind frame)."""
        views = {name: view.trimmed(keep) for name, view in self.views.items()}
        return DashboardSnapshot(self.ts, self.system, self.probes, views, self.filter,
                                 self.drilldown)  # fmt: skip

    @property
    def attached_count(self) -> int:
        return sum(1 for p in self.probes.values() if p.attached)

    @property
    def bpf_cpu_percent(self) -> float:
        return sum(p.bpf_cpu_percent for p in self.probes.values())


class Dashboard:
    def __init__(self, probe_names: tuple[str, ...], models: ModelFactories) -> None:
        """`probe_names`: the probes whose states the header and titles show;
        `models`: every pane's model (catalog.MODELS)."""
        self.probes = {name: ProbeState(name, state="detached") for name in probe_names}
        self.models: dict[str, PaneModel] = {name: make() for name, make in models.items()}
        self._model_of: dict[type, PaneModel] = {
            kind: model for model in self.models.values() for kind in model.records
        }
        self.system: SystemSample | None = None
        self.filter = Filter()
        self.drilldown: DrilldownModel | None = None

    def model(self, name: str, kind: type[T]) -> T:
        """Pane `name`'s model, typed: `dashboard.model("xdp", XdpModel)`."""
        model: Any = self.models[name]
        assert isinstance(model, kind), f"pane {name!r} has a {type(model).__name__}"
        return model

    def set_filter(self, user_filter: Filter) -> None:
        """Rows the new filter excludes leave at once; new records arrive filtered."""
        self.filter = user_filter
        for model in self.models.values():
            model.retain(user_filter.keeps)

    def open_drilldown(self, pid: int) -> None:
        self.drilldown = DrilldownModel(pid)

    def close_drilldown(self) -> None:
        self.drilldown = None

    def apply(self, record: Record) -> None:
        if self._apply_drilldown(record):
            return
        match record:
            case ProbeCounts():
                if record.probe in self.probes:
                    self.probes[record.probe] = self.probes[record.probe].with_counts(record)
                if model := self.models.get(record.probe):
                    model.add_counts(record)
            case ProbeStatus():
                state = self.probes.get(record.probe, ProbeState(record.probe))
                self.probes[record.probe] = state.with_status(record)
            case SystemSample():
                self.system = record
            case _:
                if model := self._model_of.get(type(record)):
                    model.apply(record)

    def _apply_drilldown(self, record: Record) -> bool:
        """The per-pid probes' records belong to the drilldown (if one is open)."""
        if isinstance(record, (ProbeStatus, ProbeCounts)):
            if record.probe in self.probes or record.probe in self.models:
                return False
            if self.drilldown is not None and isinstance(record, ProbeStatus):
                self.drilldown.add_status(record)
            return True
        if self.drilldown is not None:
            if isinstance(record, SyscallsRecord):
                self.drilldown.add_syscalls(record)
            elif isinstance(record, UprobeRecord):
                self.drilldown.add_uprobe(record)
        return isinstance(record, (SyscallsRecord, UprobeRecord))

    def snapshot(self, now: float) -> DashboardSnapshot:
        return DashboardSnapshot(
            ts=now,
            system=self.system,
            probes=dict(self.probes),
            views={name: model.snapshot() for name, model in self.models.items()},
            filter=self.filter,
            drilldown=self.drilldown.snapshot() if self.drilldown else None,
        )
