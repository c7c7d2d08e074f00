"""Facts the kernel keeps about loaded BPF programs (run time, names), through libbpf.

Run-time stats are switched on with BPF_ENABLE_STATS, which returns an fd:
stats stay on while the fd is open and stop when bpftop exits, however it exits.
The global kernel.bpf_stats_enabled sysctl is never touched.
"""

from __future__ import annotations

import os

from bpftop.loader import libbpf

BPF_STATS_RUN_TIME = 0


class BpfStats:
    def __init__(self) -> None:
        self._stats_fd = -1

    def enable(self) -> bool:
        """Switch run-time stats on for as long as this object lives. False if refused."""
        if self._stats_fd < 0:
            self._stats_fd = libbpf.lib().bpf_enable_stats(BPF_STATS_RUN_TIME)
        return self._stats_fd >= 0

    def close(self) -> None:
        if self._stats_fd >= 0:
            os.close(self._stats_fd)
            self._stats_fd = -1

    def prog_info(self, prog_fd: int) -> tuple[int, int, int]:
        """(program id, run_time_ns, run_cnt) of a loaded program; zeros if unreadable."""
        try:
            return libbpf.prog_stats(prog_fd)
        except OSError:
            return 0, 0, 0

    def prog_name(self, prog_id: int) -> str | None:
        """The name of any loaded program by id (someone else's XDP program, say)."""
        fd = libbpf.lib().bpf_prog_get_fd_by_id(prog_id)
        if fd < 0:
            return None
        try:
            return libbpf.prog_name(fd)
        except OSError:
            return None
        finally:
            os.close(fd)
