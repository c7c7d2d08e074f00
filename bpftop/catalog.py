"""What bpftop shows: one descriptor per pane, in one place (the way Inspektor Gadget
registers a gadget). Derived from PANES: the probe registry (--probes, --check, the
engine), the key table's toggles, the dashboard's columns, its models and the routing
of records to them, the bundle report's sections and the /metrics families; the
history's trimming and the drilldown's events come from each model's snapshot.
Nothing else names a pane. Adding a pane is its own files (bpf/, probes/, model/,
panes/) and one descriptor here: CONTRIBUTING.md, "Adding a pane".

The drilldown's per-pid probes (PID_PROBES) have no pane of their own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bpftop.core.records import Record
from bpftop.model import metric_families, offenders
from bpftop.model.connections import ConnectModel
from bpftop.model.cpu import CpuModel
from bpftop.model.dashboard import Dashboard
from bpftop.model.denials import DenialModel
from bpftop.model.disks import DiskModel
from bpftop.model.execs import ExecModel
from bpftop.model.metrics import MetricsSnapshot
from bpftop.model.pane_model import PaneModel
from bpftop.model.xdp import XdpModel
from bpftop.panes.base import Pane
from bpftop.panes.connections import ConnectPane
from bpftop.panes.cpu import CpuPane
from bpftop.panes.denials import DenialsPane
from bpftop.panes.disks import DiskPane
from bpftop.panes.execs import ExecPane
from bpftop.panes.keys import Key, all_keys, toggle
from bpftop.panes.xdp import XdpPane
from bpftop.probes.base import Probe
from bpftop.probes.connect_probe import ConnectProbe
from bpftop.probes.cpu_probe import CpuProbe
from bpftop.probes.denial_probe import DenialProbe
from bpftop.probes.disk_probe import DiskProbe
from bpftop.probes.exec_probe import ExecProbe
from bpftop.probes.syscall_probe import SyscallProbe
from bpftop.probes.uprobe_probe import UprobeProbe
from bpftop.probes.xdp_probe import XdpProbe

if TYPE_CHECKING:
    from prometheus_client.core import Metric  # only --serve imports the client

ReportSection = Callable[[list[Record]], list[str]]
MetricFamilies = Callable[[MetricsSnapshot], Iterable["Metric"]]


@dataclass(frozen=True)
class PaneDescriptor:
    probe: type[Probe]  # its name is the pane's: --probes, JSON "probe", the pane's id
    model: Callable[[], PaneModel]  # takes the records its class lists in `records`
    pane: type[Pane]  # renders the model's snapshot
    title: str  # the pane's title, before its key: "Execs [1]"
    key: str  # turns the probe on and off (Textual key name)
    label: str  # the footer's word for the key
    help: str  # the help screen's line for the key
    column: int  # 0: left (or top, on a narrow terminal); 1: right
    row: int  # top to bottom within the column
    report: tuple[str, ReportSection] | None = None  # the bundle report's "top offenders"
    metrics: MetricFamilies | None = None  # its /metrics families (--serve)
    in_footer: bool = True  # 80 columns hold five toggles: CPU's key is in its title alone

    @property
    def name(self) -> str:
        return self.probe.name


# In start-up order: CPU last (its pane is on top, but the other probes' start-up
# order, and so --check's and --json's, stays as it was).
PANES: tuple[PaneDescriptor, ...] = (
    PaneDescriptor(
        ExecProbe, ExecModel, ExecPane, "Execs", "1", "Execs",
        "exec probe on/off (off really detaches it)",
        column=0, row=1, report=("execs", offenders.execs),
        metrics=metric_families.execs,
    ),
    PaneDescriptor(
        ConnectProbe, ConnectModel, ConnectPane, "TCP", "2", "TCP",
        "TCP connection probe on/off",
        column=0, row=2, report=("TCP connections", offenders.connects),
        metrics=metric_families.connects,
    ),
    PaneDescriptor(
        DiskProbe, DiskModel, DiskPane, "Disk I/O", "3", "Disk",
        "disk I/O probe on/off",
        column=1, row=0, report=("disk I/O", offenders.disks),
        metrics=metric_families.disks,
    ),
    PaneDescriptor(
        DenialProbe, DenialModel, DenialsPane, "Denials", "4", "Denials",
        "permission denials probe on/off",
        column=1, row=1, report=("permission denials", offenders.denials),
        metrics=metric_families.denials,
    ),
    PaneDescriptor(
        XdpProbe, XdpModel, XdpPane, "XDP", "5", "XDP",
        "XDP probe on/off (reading only; with it go bpftop's own XDP programs)",
        column=1, row=2, report=("XDP", offenders.xdp),
        metrics=metric_families.xdp,
    ),
    PaneDescriptor(
        CpuProbe, CpuModel, CpuPane, "CPU", "0", "CPU",
        "CPU probe on/off (sampling at 99 Hz and run-queue latency)",
        column=0, row=0, report=("CPU", offenders.cpu), in_footer=False,
    ),
)  # fmt: skip

# The drilldown's probes: they need a target pid and run only when asked for.
PID_PROBES: tuple[type[Probe], ...] = (SyscallProbe, UprobeProbe)

# -- derived from PANES -------------------------------------------------------------
PANE_PROBES: tuple[type[Probe], ...] = tuple(d.probe for d in PANES)
PROBE_CLASSES: tuple[type[Probe], ...] = PANE_PROBES + PID_PROBES
PROBE_NAMES: tuple[str, ...] = tuple(d.name for d in PANES)
PID_PROBE_NAMES: tuple[str, ...] = tuple(cls.name for cls in PID_PROBES)
MODELS: dict[str, Callable[[], PaneModel]] = {d.name: d.model for d in PANES}
# The panes in screen order: column by column, top to bottom.
ON_SCREEN: tuple[PaneDescriptor, ...] = tuple(sorted(PANES, key=lambda d: (d.column, d.row)))
COLUMNS: tuple[tuple[PaneDescriptor, ...], ...] = tuple(
    tuple(d for d in ON_SCREEN if d.column == column)
    for column in sorted({d.column for d in PANES})
)
TOGGLE_KEYS: tuple[Key, ...] = tuple(
    toggle(d.name, d.key, d.label, d.help, footer=d.in_footer) for d in ON_SCREEN
)
KEY_TABLE: tuple[Key, ...] = all_keys(TOGGLE_KEYS)  # every key bpftop answers to
REPORT_SECTIONS: tuple[tuple[str, ReportSection], ...] = tuple(
    d.report for d in ON_SCREEN if d.report is not None
)


def new_dashboard(probe_names: tuple[str, ...] = PROBE_NAMES) -> Dashboard:
    """The dashboard with every pane's model; `probe_names`: the probes whose states it
    shows (the ones this session runs)."""
    return Dashboard(probe_names, MODELS)
