"""Facts the kernel keeps about loaded BPF programs (run time, names), through libbpf.

Run-time stats are switched on with BPF_ENABLE_STATS, which returns an fd:
stats stay on while the fd is open and stop when bpftop exits, however it exits.
The global kernel.bpf_stats_enabled sysctl is never touched.
"""

from __future__ import annotations

import ctypes
import os

BPF_STATS_RUN_TIME = 0
# struct bpf_prog_info (uapi/linux/bpf.h): offsets of the fields we read.
_INFO_SIZE = 256  # larger than the kernel's struct; the tail stays zero as it requires
_OFF_ID = 4
_OFF_NAME = 64  # char name[BPF_OBJ_NAME_LEN = 16]
_OFF_RUN_TIME_NS = 192
_OFF_RUN_CNT = 200


class BpfStats:
    def __init__(self) -> None:
        self._lib = ctypes.CDLL("libbpf.so.1", use_errno=True)
        self._lib.bpf_enable_stats.argtypes = [ctypes.c_int]
        self._lib.bpf_obj_get_info_by_fd.argtypes = [
            ctypes.c_int,
            ctypes.c_void_p,
            ctypes.POINTER(ctypes.c_uint32),
        ]
        self._lib.bpf_prog_get_fd_by_id.argtypes = [ctypes.c_uint32]
        self._stats_fd = -1

    def enable(self) -> bool:
        """Switch run-time stats on for as long as this object lives. False if refused."""
        if self._stats_fd < 0:
            self._stats_fd = self._lib.bpf_enable_stats(BPF_STATS_RUN_TIME)
        return self._stats_fd >= 0

    def close(self) -> None:
        if self._stats_fd >= 0:
            os.close(self._stats_fd)
            self._stats_fd = -1

    def prog_info(self, prog_fd: int) -> tuple[int, int, int]:
        """(program id, run_time_ns, run_cnt) of a loaded program; zeros if unreadable."""
        buf = ctypes.create_string_buffer(_INFO_SIZE)
        size = ctypes.c_uint32(_INFO_SIZE)
        if self._lib.bpf_obj_get_info_by_fd(prog_fd, buf, ctypes.byref(size)) != 0:
            return 0, 0, 0
        raw = buf.raw
        return (
            int.from_bytes(raw[_OFF_ID : _OFF_ID + 4], "little"),
            int.from_bytes(raw[_OFF_RUN_TIME_NS : _OFF_RUN_TIME_NS + 8], "little"),
            int.from_bytes(raw[_OFF_RUN_CNT : _OFF_RUN_CNT + 8], "little"),
        )

    def prog_name(self, prog_id: int) -> str | None:
        """The name of any loaded program by id (someone else's XDP program, say)."""
        fd = self._lib.bpf_prog_get_fd_by_id(prog_id)
        if fd < 0:
            return None
        try:
            buf = ctypes.create_string_buffer(_INFO_SIZE)
            size = ctypes.c_uint32(_INFO_SIZE)
            if self._lib.bpf_obj_get_info_by_fd(fd, buf, ctypes.byref(size)) != 0:
                return None
            name = buf.raw[_OFF_NAME : _OFF_NAME + 16].split(b"\0", 1)[0]
            return name.decode("utf-8", "replace")
        finally:
            os.close(fd)
