"""A uprobe opened with perf_event_open on the uprobe PMU, for USDT probes.

bcc 0.26's attach_uprobe cannot pass a USDT semaphore. Here the kernel gets it as
`ref_ctr_offset`: it increments the semaphore in the target while the probe exists
and decrements it when the perf event's fd closes, however bpftop ends, so bpftop
never writes into the target's memory and a SIGKILL leaves the target as it was.
"""

from __future__ import annotations

import ctypes
import os
from pathlib import Path

UPROBE_PMU = Path("/sys/bus/event_source/devices/uprobe")
SYS_PERF_EVENT_OPEN = 298  # x86_64
PERF_FLAG_FD_CLOEXEC = 8
PERF_EVENT_IOC_ENABLE = 0x2400
PERF_EVENT_IOC_SET_BPF = 0x40042408


class PerfEventAttr(ctypes.Structure):
    """struct perf_event_attr up to config2 (PERF_ATTR_SIZE_VER1, 72 bytes)."""

    _fields_ = [
        ("type", ctypes.c_uint32),
        ("size", ctypes.c_uint32),
        ("config", ctypes.c_uint64),
        ("sample_period", ctypes.c_uint64),
        ("sample_type", ctypes.c_uint64),
        ("read_format", ctypes.c_uint64),
        ("flags", ctypes.c_uint64),
        ("wakeup_events", ctypes.c_uint32),
        ("bp_type", ctypes.c_uint32),
        ("config1", ctypes.c_uint64),  # uprobe_path
        ("config2", ctypes.c_uint64),  # probe_offset
    ]


def _config_shift(name: str) -> int:
    """Where the PMU wants a field in `config`, from its format file ("config:32-63")."""
    spec = (UPROBE_PMU / "format" / name).read_text().strip()
    return int(spec.split(":")[1].split("-")[0])


def open_uprobe(path: str, offset: int, pid: int, prog_fd: int, ref_ctr_offset: int = 0) -> int:
    """Attach `prog_fd` at file `offset` of `path` in process `pid`; returns the fd
    that keeps it (close it to detach)."""
    libc = ctypes.CDLL(None, use_errno=True)
    path_buf = ctypes.create_string_buffer(path.encode())
    attr = PerfEventAttr()
    attr.type = int((UPROBE_PMU / "type").read_text())
    attr.size = ctypes.sizeof(attr)
    attr.sample_period = 1
    attr.wakeup_events = 1
    if ref_ctr_offset:
        attr.config = ref_ctr_offset << _config_shift("ref_ctr_offset")
    attr.config1 = ctypes.addressof(path_buf)
    attr.config2 = offset
    fd = libc.syscall(SYS_PERF_EVENT_OPEN, ctypes.byref(attr), pid, -1, -1, PERF_FLAG_FD_CLOEXEC)
    if fd < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"perf_event_open uprobe: {os.strerror(err)}")
    for request, arg in ((PERF_EVENT_IOC_SET_BPF, prog_fd), (PERF_EVENT_IOC_ENABLE, 0)):
        if libc.ioctl(fd, request, arg) < 0:
            err = ctypes.get_errno()
            os.close(fd)
            raise OSError(err, f"attaching the uprobe program: {os.strerror(err)}")
    return int(fd)
