"""The whole dashboard's state: routes each record to the model that owns it.

The TUI, replay and tests feed records through `apply()` and read `snapshot()`;
that one path is what the panes render.
"""

from __future__ import annotations

from dataclasses import dataclass

from bpftop.model.connections import ConnectModel, ConnectSnapshot
from bpftop.model.denials import DenialModel, DenialSnapshot
from bpftop.model.disks import DiskModel, DiskSnapshot
from bpftop.model.execs import ExecModel, ExecSnapshot
from bpftop.model.probe_state import ProbeState
from bpftop.model.xdp import XdpModel, XdpSnapshot
from bpftop.records import (
    ConnectRecord,
    DenialGroupRecord,
    DenialRecord,
    DiskProcRecord,
    DiskRecord,
    ExecRecord,
    ProbeCounts,
    ProbeStatus,
    Record,
    SlowIoRecord,
    SystemSample,
    XdpRecord,
)


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
        # Which model turns a probe's interval counts into rates.
        self._counted_by: dict[str, ExecModel | ConnectModel | DiskModel | DenialModel] = {
            "exec": self.execs,
            "connect": self.connects,
            "disk": self.disks,
            "denials": self.denials,
        }
        self.system: SystemSample | None = None

    def apply(self, record: Record) -> None:
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
            case XdpRecord():
                self.xdp.add(record)
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
        )
