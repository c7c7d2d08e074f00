"""Samples the box and bpftop's own process with psutil, for the header line."""

from __future__ import annotations

import os
import platform
import socket
import time

import psutil

from bpftop.core.records import SystemSample


class SystemSampler:
    def __init__(self) -> None:
        self._me = psutil.Process()
        self._boot = psutil.boot_time()
        self._host = socket.gethostname()
        self._kernel = platform.release()
        psutil.cpu_percent(None)  # the first call only sets the baseline
        self._last_user = self._me.cpu_times().user
        self._last_time = time.monotonic()

    def sample(self) -> SystemSample:
        now = time.monotonic()
        user = self._me.cpu_times().user
        elapsed = max(now - self._last_time, 1e-6)
        self_cpu = 100.0 * (user - self._last_user) / elapsed
        self._last_user, self._last_time = user, now
        wall = time.time()
        return SystemSample(
            ts=wall,
            host=self._host,
            kernel=self._kernel,
            uptime_s=wall - self._boot,
            load=os.getloadavg(),
            cpu_percent=psutil.cpu_percent(None),
            mem_percent=psutil.virtual_memory().percent,
            self_cpu_percent=round(self_cpu, 1),
            self_rss_mb=round(self._me.memory_info().rss / 2**20, 1),
        )
