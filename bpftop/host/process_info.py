"""What psutil and /proc know about one process, for the drilldown's header.

Read on a worker thread once per refresh; a process that is gone yields None,
and the drilldown keeps showing the last answer, marked exited.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

CONTAINER_ID = re.compile(r"([0-9a-f]{64})")
MAX_LISTED = 200


@dataclass(frozen=True)
class ProcessInfo:
    pid: int
    name: str
    cmdline: str
    user: str
    parents: tuple[tuple[int, str], ...]  # nearest first
    started: float  # epoch seconds
    cpu_percent: float  # of one CPU, since the last read
    rss_bytes: int
    threads: int
    cgroup: str | None  # the cgroup v2 path, or the first v1 line
    container: str | None  # a 64-hex id found in the cgroup path
    files: tuple[str, ...]  # "3 /var/log/app.log", "0 /dev/pts/1", "5 pipe:[1234]"
    sockets: tuple[str, ...]  # "tcp 10.0.0.1:443 -> 10.0.0.9:51234 ESTABLISHED"
    fds: int | None = None  # every open descriptor (None: not allowed to look)


class ProcessWatcher:
    """Keeps the psutil.Process so cpu_percent measures between two reads."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        try:
            self._proc: psutil.Process | None = psutil.Process(pid)
            self._proc.cpu_percent(None)
        except psutil.NoSuchProcess:
            self._proc = None

    @property
    def exists(self) -> bool:
        return self._proc is not None and self._proc.is_running()

    def read(self) -> ProcessInfo | None:
        proc = self._proc
        if proc is None:
            return None
        try:
            with proc.oneshot():
                name, cmdline = proc.name(), " ".join(proc.cmdline())
                user, started = proc.username(), proc.create_time()
                cpu, rss, threads = (
                    proc.cpu_percent(None),
                    proc.memory_info().rss,
                    proc.num_threads(),
                )
                parents = tuple((p.pid, p.name()) for p in proc.parents())
            fds: int | None = proc.num_fds()
            files = _descriptors(self.pid)
            sockets = tuple(_socket_text(c) for c in proc.net_connections("all")[:MAX_LISTED])
        except (psutil.NoSuchProcess, psutil.ZombieProcess):
            self._proc = None
            return None
        except psutil.AccessDenied:
            fds, files, sockets = None, (), ()
        cgroup = _cgroup(self.pid)
        match = CONTAINER_ID.search(cgroup or "")
        return ProcessInfo(
            self.pid, name, cmdline or f"[{name}]", user, parents, started, cpu, rss, threads,
            cgroup, match.group(1)[:12] if match else None, files, sockets, fds,
        )  # fmt: skip


def _descriptors(pid: int) -> tuple[str, ...]:
    """Every descriptor that is not a socket (those are listed with their addresses),
    as "FD TARGET". psutil's open_files() has regular files only, so a process whose
    descriptors were a terminal, pipes and /dev/null showed `files 0`."""
    out = []
    try:
        names = sorted(os.listdir(f"/proc/{pid}/fd"), key=int)
    except OSError:
        return ()
    for name in names:
        try:
            target = os.readlink(f"/proc/{pid}/fd/{name}")
        except OSError:
            continue  # closed meanwhile
        if not target.startswith("socket:"):
            out.append(f"{name} {target}")
        if len(out) >= MAX_LISTED:
            break
    return tuple(out)


def watch_process(pid: int) -> Callable[[], ProcessInfo | None] | None:
    """A reader for the drilldown, or None when there is no such process."""
    watcher = ProcessWatcher(pid)
    return watcher.read if watcher.exists else None


def _socket_text(conn: Any) -> str:
    """One psutil connection (psutil's named tuple is not public API) as a line."""
    kind = {1: "tcp", 2: "udp"}.get(int(conn.type), "sock")
    if isinstance(conn.laddr, str):  # unix
        return f"unix {conn.laddr or conn.raddr or '(unnamed)'}"
    local = f"{conn.laddr.ip}:{conn.laddr.port}" if conn.laddr else "*"
    remote = f" -> {conn.raddr.ip}:{conn.raddr.port}" if conn.raddr else ""
    status = f" {conn.status}" if conn.status and conn.status != "NONE" else ""
    return f"{kind} {local}{remote}{status}"


def _cgroup(pid: int) -> str | None:
    try:
        lines = Path(f"/proc/{pid}/cgroup").read_text().splitlines()
    except OSError:
        return None
    v2 = [line.split(":", 2)[2] for line in lines if line.startswith("0::")]
    if v2 and v2[0] != "/":
        return v2[0]
    named = [line.split(":", 2)[2] for line in lines if line.count(":") >= 2]
    return next((path for path in named if path != "/"), v2[0] if v2 else None)
