"""The probes bpftop knows, in pane order. Names are shared by the TUI, --probes and --json."""

from bpftop.probes.base import Probe
from bpftop.probes.connect_probe import ConnectProbe
from bpftop.probes.denial_probe import DenialProbe
from bpftop.probes.disk_probe import DiskProbe
from bpftop.probes.exec_probe import ExecProbe
from bpftop.probes.xdp_probe import XdpProbe

PROBE_CLASSES: tuple[type[Probe], ...] = (ExecProbe, ConnectProbe, DiskProbe, DenialProbe, XdpProbe)
PROBE_NAMES: tuple[str, ...] = tuple(cls.name for cls in PROBE_CLASSES)
