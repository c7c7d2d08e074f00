"""The probes bpftop knows. Names are shared by the TUI, --probes and --json.

The pane probes run by default, in pane order; the drilldown's probes need a
target pid and run only when asked for (the drilldown, or --probes/--uprobe).
"""

from bpftop.probes.base import Probe
from bpftop.probes.connect_probe import ConnectProbe
from bpftop.probes.cpu_probe import CpuProbe
from bpftop.probes.denial_probe import DenialProbe
from bpftop.probes.disk_probe import DiskProbe
from bpftop.probes.exec_probe import ExecProbe
from bpftop.probes.syscall_probe import SyscallProbe
from bpftop.probes.uprobe_probe import UprobeProbe
from bpftop.probes.xdp_probe import XdpProbe

# CPU last: its pane is on top, but the other probes' start-up order stays as it was.
PANE_PROBES: tuple[type[Probe], ...] = (
    *(ExecProbe, ConnectProbe, DiskProbe, DenialProbe, XdpProbe, CpuProbe),
)
PID_PROBES: tuple[type[Probe], ...] = (SyscallProbe, UprobeProbe)
PROBE_CLASSES: tuple[type[Probe], ...] = PANE_PROBES + PID_PROBES
PROBE_NAMES: tuple[str, ...] = tuple(cls.name for cls in PANE_PROBES)
PID_PROBE_NAMES: tuple[str, ...] = tuple(cls.name for cls in PID_PROBES)
