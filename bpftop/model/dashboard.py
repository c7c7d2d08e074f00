"""The whole dashboard's state: routes each record to the model that owns it.

The TUI, replay and tests feed records through `apply()` and read `snapshot()`;
that one path is what the panes render.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bpftop.core.filters import Filter
from bpftop.core.records import (
    ConnectRecord,
    CpuRecord,
    DenialGroupRecord,
    DenialRecord,
    DiskProcRecord,
    DiskRecord,
    ExecRecord,
    ProbeCounts,
    ProbeStatus,
    Record,
    RunqRecord,
    SilentCapRecord,
    SlowIoRecord,
    SyscallsRecord,
    SystemSample,
    UprobeRecord,
    XdpRecord,
)
from bpftop.model.connections import ConnectModel, ConnectSnapshot
from bpftop.model.cpu import CpuModel, CpuSnapshot
from bpftop.model.denials import DenialModel, DenialSnapshot
from bpftop.model.disks import DiskModel, DiskSnapshot
from bpftop.model.drilldown import DrilldownModel, DrilldownSnapshot
from bpftop.model.execs import ExecModel, ExecSnapshot
from bpftop.model.probe_state import ProbeState
from bpftop.model.xdp import XdpModel, XdpSnapshot


@dataclass(frozen=True)
class DashboardSnapshot:
    ts: float  # the model clock when the snapshot was taken
    system: SystemSample | None
    probes: dict[str, ProbeState]
    execs: ExecSnapshot
    connects: ConnectSnapshot
    disks: DiskSnapshot
    denials: DenialSnapshot
    xdp: XdpSnapshot
    cpu: CpuSnapshot
    filter: Filter = field(default_factory=Filter)
    drilldown: DrilldownSnapshot | None = None

    @property
    def attached_count(self) -> int:
        return sum(1 for p in self.probes.values() if p.attached)

    @property
    def bpf_cpu_percent(self) -> float:
        return sum(p.bpf_cpu_percent for p in self.probes.values())


class Dashboard:
    def __init__(self, probe_names: tuple[str, ...]) -> None:
        self.probes = {name: ProbeState(name, state="detached") for name in probe_names}
        self.execs = ExecModel()
        self.connects = ConnectModel()
        self.disks = DiskModel()
        self.denials = DenialModel()
        self.xdp = XdpModel()
        self.cpu = CpuModel()
        # Which model turns a probe's interval counts into rates.
        self._counted_by: dict[
            str, ExecModel | ConnectModel | DiskModel | DenialModel | CpuModel
        ] = {
            "exec": self.execs,
            "connect": self.connects,
            "disk": self.disks,
            "denials": self.denials,
            "cpu": self.cpu,
        }
        self.system: SystemSample | None = None
        self.filter = Filter()
        self.drilldown: DrilldownModel | None = None

    def set_filter(self, user_filter: Filter) -> None:
        """Rows the new filter excludes leave at once; new records arrive filtered."""
        self.filter = user_filter
        for model in (self.execs, self.connects, self.disks, self.denials, self.xdp, self.cpu):
            model.retain(user_filter.keeps)

    def open_drilldown(self, pid: int) -> None:
        self.drilldown = DrilldownModel(pid)

    def close_drilldown(self) -> None:
        self.drilldown = None

    def apply(self, record: Record) -> None:
        if self._apply_drilldown(record):
            return
        match record:
            case ExecRecord():
                self.execs.add(record)
            case ConnectRecord():
                self.connects.add(record)
            case DiskRecord():
                self.disks.add_device(record)
            case DiskProcRecord():
                self.disks.add_proc(record)
            case SlowIoRecord():
                self.disks.add_slow(record)
            case DenialRecord():
                self.denials.add(record)
            case DenialGroupRecord():
                self.denials.add_group(record)
            case SilentCapRecord():
                self.denials.add_silent(record)
            case XdpRecord():
                self.xdp.add(record)
            case CpuRecord():
                self.cpu.add(record)
            case RunqRecord():
                self.cpu.add_runq(record)
            case ProbeCounts():
                if record.probe in self.probes:
                    self.probes[record.probe] = self.probes[record.probe].with_counts(record)
                if model := self._counted_by.get(record.probe):
                    model.add_counts(record)
            case ProbeStatus():
                state = self.probes.get(record.probe, ProbeState(record.probe))
                self.probes[record.probe] = state.with_status(record)
            case SystemSample():
                self.system = record

    def _apply_drilldown(self, record: Record) -> bool:
        """The per-pid probes' records belong to the drilldown (if one is open)."""
        if isinstance(record, (ProbeStatus, ProbeCounts)):
            if record.probe in self.probes or record.probe in self._counted_by:
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
            execs=self.execs.snapshot(),
            connects=self.connects.snapshot(),
            disks=self.disks.snapshot(),
            denials=self.denials.snapshot(),
            xdp=self.xdp.snapshot(),
            cpu=self.cpu.snapshot(),
            filter=self.filter,
            drilldown=self.drilldown.snapshot() if self.drilldown else None,
        )
