"""The user's filter: `pid=123 comm=nginx* user=www-data port=443 dev=sda lat>5ms`.

Terms are separated by spaces and all must hold. The kernel side (`struct
task_filter` in bpf/bpftop.h) drops what it can before anything is counted or
sent; `keeps()` applies the same filter to records in user space, which covers
what the kernel cannot test (the rest of a glob after its literal head, a
device that is a network interface) and records from a replay.
"""

from __future__ import annotations

import errno as errno_codes
import fnmatch
import os
import pwd
import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from bpftop.core.records import (
    CONNECT_RESULTS,
    ConnectRecord,
    CpuRecord,
    DenialGroupRecord,
    DenialRecord,
    ExecRecord,
    SlowIoRecord,
)

COMM_LEN = 16  # TASK_COMM_LEN, with its NUL
CGROUP2_MOUNTS = (Path("/sys/fs/cgroup/unified"), Path("/sys/fs/cgroup"))
SYNTAX = (
    "pid=PID  comm=GLOB  user=NAME|uid=UID  cgroup=PATH|container=ID  port=N  dev=NAME"
    "  lat>N[us|ms|s]  result=ok|failed|refused|reset|timeout|aborted  errno=NAME"
)
_TERM = re.compile(
    r"^(pid|comm|user|uid|cgroup|container|port|dev|result|errno)=(.+)$|^lat>=?(.+)$"
)
RESULTS = ("ok", "failed", *CONNECT_RESULTS[1:])
# The errno a connection's failure stands for, so errno= finds refused connects too.
CONNECT_ERRNO = {"refused": "ECONNREFUSED", "reset": "ECONNRESET", "timeout": "ETIMEDOUT"}
# result= in the kernel: the OUTCOME_* bits of bpf/bpftop.h. Execs test it on failures
# only (a success must still reach the PATH-lookup folding), the rest on every event.
OUTCOME_BITS = {"ok": 1, "failed": 2, "refused": 4, "reset": 8, "timeout": 16, "aborted": 32,
                "error": 64}  # fmt: skip
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(us|ms|s)?$")


def thread_group(pid: int) -> int | None:
    """The process (tgid) a pid or thread id belongs to; None if there is none."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    line = next((line for line in status.splitlines() if line.startswith("Tgid:")), None)
    return int(line.split()[1]) if line else None


class FilterError(ValueError):
    """A bad filter expression; the message is one line for the filter bar."""


@dataclass(frozen=True)
class Filter:
    pid: int | None = None
    comm: str | None = None  # a glob, as typed
    uid: int | None = None
    cgroup: str | None = None  # as typed: a v2 path or a container id
    cgroup_id: int = 0
    cgroup_level: int = 0
    port: int | None = None
    disk: str | None = None  # dev= naming a block device (whole disk)
    disk_dev: int = 0  # its kernel dev_t
    interface: str | None = None  # dev= naming a network interface
    min_latency_us: float | None = None
    result: str | None = None  # one of RESULTS: execs, connections and denials only
    errno: str | None = None  # "ENOENT": execs, connections and denials only
    text: str = field(default="", compare=False)

    @cached_property
    def empty(self) -> bool:
        """Asked for every record the engine sends: computed once per filter."""
        return self == Filter()

    @cached_property
    def on_task(self) -> bool:
        return (
            self.pid is not None
            or self.comm is not None
            or self.uid is not None
            or bool(self.cgroup_id)
        )

    def comm_head(self) -> bytes:
        """What the kernel compares: the whole name and its NUL, or a glob's literal head."""
        if self.comm is None:
            return b""
        cut = min((i for i, c in enumerate(self.comm) if c in "*?["), default=None)
        if cut is None:
            return (self.comm.encode()[: COMM_LEN - 1]) + b"\0"
        return self.comm[:cut].encode()[: COMM_LEN - 1]

    def keeps(self, record: Any) -> bool:
        """Does a record pass? Records that name no task (device and interface totals,
        counts, samples) pass the task fields: the kernel filtered what they count."""
        if self.empty:
            return True
        if self.on_task and hasattr(record, "comm") and not self._task_passes(record):
            return False
        dev = getattr(record, "dev", None)
        if self.disk is not None and dev is not None and dev != self.disk:
            return False
        ifname = getattr(record, "ifname", None)
        if self.interface is not None and ifname is not None and ifname != self.interface:
            return False
        if isinstance(record, ConnectRecord):
            if self.port is not None and self.port not in (record.sport, record.dport):
                return False
            if self.min_latency_us is not None and not (
                record.latency_us is not None and record.latency_us >= self.min_latency_us
            ):
                return False
        if isinstance(record, SlowIoRecord) and self.min_latency_us is not None:
            return record.lat_us >= self.min_latency_us
        return self._outcome_passes(record)

    def _outcome_passes(self, record: Any) -> bool:
        """result= and errno=: records with an outcome (execs, connections, denials);
        the others (devices, interfaces, CPU) pass."""
        if self.result is None and self.errno is None:
            return True
        if isinstance(record, ExecRecord):
            result, error = ("ok", None) if record.ret >= 0 else ("failed", record.error)
        elif isinstance(record, ConnectRecord):
            ok = record.result == "established"
            result = "ok" if ok else record.result
            error = record.errno or CONNECT_ERRNO.get(record.result)
        elif isinstance(record, (DenialRecord, DenialGroupRecord)):
            result, error = "failed", record.errno
        else:
            return True
        if self.result == "failed" and result == "ok":
            return False
        if self.result not in (None, "failed") and result != self.result:
            return False
        return self.errno is None or error == self.errno

    def _task_passes(self, record: Any) -> bool:
        """A record that names a task; one without a pid field (a kernel-side group)
        was tested on pid and cgroup in the kernel. A pid of None (unknown) fails."""
        named = hasattr(record, "pid")
        pid = getattr(record, "pid", None)
        # A CPU row without a pid is a comm's exited processes, which the kernel tested.
        if named and pid is None and not (isinstance(record, CpuRecord) and self.pid is None):
            return False
        if named and self.pid is not None:
            parent = record.ppid if isinstance(record, ExecRecord) else None
            if self.pid not in (pid, parent):
                return False
        if self.comm is not None and (
            record.comm is None or not fnmatch.fnmatchcase(record.comm, self.comm)
        ):
            return False
        if isinstance(record, CpuRecord):
            return True  # the kernel tested the sampled task's uid
        return self.uid is None or getattr(record, "uid", None) == self.uid

    def kernel_fields(self) -> dict[str, Any]:
        """The values of `struct task_filter` (bpf/bpftop.h)."""
        head = self.comm_head()
        return {
            "pid": self.pid or 0,
            "uid": self.uid or 0,
            "uid_set": int(self.uid is not None),
            "comm_len": len(head),
            "comm": head,
            "cgroup": self.cgroup_id,
            "cgroup_level": self.cgroup_level,
            "port": self.port or 0,
            "dev": self.disk_dev,
            "min_lat_ns": int((self.min_latency_us or 0) * 1000),
            "outcomes": OUTCOME_BITS[self.result] if self.result else 0,
            "err": -getattr(errno_codes, self.errno) if self.errno else 0,
        }


def parse_filter(text: str, *, replay: bool = False) -> Filter:
    """Parse the filter bar's text; an empty text is no filter. For a `replay`, a pid
    need not exist here, and terms that only the kernel can test are refused."""
    values: dict[str, Any] = {}
    for term in text.split():
        match = _TERM.match(term)
        if not match:
            raise FilterError(f"bad filter term {term!r}; use {SYNTAX}")
        key, value, latency = match.groups()
        if latency is not None:
            key, value = "lat", latency
        if (
            key in values
            or (key in ("user", "uid") and "uid" in values)
            or (key in ("cgroup", "container") and "cgroup" in values)
        ):
            raise FilterError(f"{key} given twice in the filter")
        values.update(_parse_term(key, value, replay))
    return Filter(**values, text=" ".join(text.split()))


def _parse_term(key: str, value: str, replay: bool) -> dict[str, Any]:
    if replay and key in ("dev", "cgroup", "container"):
        raise FilterError(
            f"{key}= needs the live box; a replay filters on pid, comm, uid, port, lat,"
            " result, errno"
        )
    if key == "pid":
        pid = _integer(key, value, 1, 2**22)
        if replay:
            return {"pid": pid}
        tgid = thread_group(pid)
        if tgid is None:
            raise FilterError(f"no process with pid {pid}")
        if tgid != pid:  # the kernel side compares tgids: a thread id would match nothing
            raise FilterError(f"{pid} is a thread of process {tgid}: use pid={tgid}")
        return {"pid": pid}
    if key == "comm":
        if len(value) > COMM_LEN - 1 and not any(c in value for c in "*?["):
            raise FilterError(f"comm {value!r} is longer than the kernel's 15 characters")
        return {"comm": value}
    if key == "uid":
        return {"uid": _integer(key, value, 0, 2**32 - 2)}
    if key == "user":
        try:
            return {"uid": pwd.getpwnam(value).pw_uid}
        except KeyError:
            raise FilterError(f"no user named {value!r}") from None
    if key == "port":
        return {"port": _integer(key, value, 1, 65535)}
    if key == "dev":
        return _device(value)
    if key == "lat":
        return {"min_latency_us": _latency_us(value)}
    if key == "result":
        if value not in RESULTS:
            raise FilterError(f"result must be one of {', '.join(RESULTS)}: {value!r}")
        return {"result": value}
    if key == "errno":
        name = value.upper()
        if name not in errno_codes.errorcode.values():
            raise FilterError(f"no errno named {value!r} (ENOENT, EACCES, ECONNREFUSED...)")
        return {"errno": name}
    return _cgroup(key, value)


def _integer(key: str, value: str, low: int, high: int) -> int:
    if not value.isdigit() or not low <= int(value) <= high:
        raise FilterError(f"{key} must be a number from {low} to {high}: {value!r}")
    return int(value)


def _latency_us(value: str) -> float:
    match = _DURATION.match(value)
    if not match:
        raise FilterError(f"latency must look like 500us, 5ms or 1s: {value!r}")
    number, unit = float(match.group(1)), match.group(2) or "ms"
    return number * {"us": 1, "ms": 1000, "s": 1_000_000}[unit]


def _device(name: str) -> dict[str, Any]:
    block = Path("/sys/class/block") / name
    if block.exists():
        if (block / "partition").exists():  # the block tracepoints report whole disks
            block = block.resolve().parent
        major, minor = (block / "dev").read_text().split(":")
        return {"disk": block.name, "disk_dev": (int(major) << 20) | int(minor)}
    if Path("/sys/class/net", name).exists():
        return {"interface": name}
    raise FilterError(f"no block device or network interface named {name!r}")


def _cgroup(key: str, value: str) -> dict[str, Any]:
    """A cgroup v2 directory: by path below the v2 mount, or the one whose name
    holds a container id (docker-<id>.scope, libpod-<id>, ...)."""
    root = next((m for m in CGROUP2_MOUNTS if (m / "cgroup.controllers").exists()), None)
    if root is None:
        raise FilterError("cgroup filters need cgroup v2, which is not mounted here")
    if key == "cgroup":
        path = root / value.strip("/")
        if not path.is_dir() or ".." in Path(value).parts:
            raise FilterError(f"no cgroup {value!r} under {root}")
    else:
        if len(value) < 4:
            raise FilterError("container id: give at least 4 characters")
        found = next((d for d, _dirs, _files in os.walk(root) if value in Path(d).name), None)
        if found is None:
            raise FilterError(f"no cgroup for container {value!r} under {root}")
        path = Path(found)
    level = len(path.relative_to(root).parts)
    return {"cgroup": value, "cgroup_id": path.stat().st_ino, "cgroup_level": level}
