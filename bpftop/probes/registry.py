"""The probes bpftop knows, in pane order. Names are shared by the TUI, --probes and --json."""

from bpftop.probes.base import Probe
from bpftop.probes.connect_probe import ConnectProbe
from bpftop.probes.denial_probe import DenialProbe
from bpftop.probes.disk_probe import DiskProbe
from bpftop.probes.exec_probe import ExecProbe

PROBE_CLASSES: tuple[type[Probe], ...] = (ExecProbe, ConnectProbe, DiskProbe, DenialProbe)
PROBE_NAMES: tuple[str, ...] = tuple(cls.name for cls in PROBE_CLASSES)
