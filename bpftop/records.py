"""Typed, immutable records: the one currency between the BPF thread, the model,
the TUI, `--json` and the tests. `to_json()` is the headless wire format."""

from __future__ import annotations

import errno
from dataclasses import dataclass, field
from typing import Any

PROBE_STATES = ("attaching", "attached", "unavailable", "detached")


def errno_name(ret: int) -> str | None:
    """ "ENOENT" for -2; None for success."""
    if ret >= 0:
        return None
    return errno.errorcode.get(-ret, f"E{-ret}")


@dataclass(frozen=True, slots=True)
class ProbeStatus:
    ts: float
    probe: str
    state: str
    via: str | None = None
    reason: str | None = None
    # Plan steps passed over before `via`, as (step, why) pairs.
    skipped: tuple[tuple[str, str], ...] = ()

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "status", "probe": self.probe, "state": self.state}
        if self.via:
            out["via"] = self.via
        if self.reason:
            out["reason"] = self.reason
        if self.skipped:
            out["skipped"] = {step: why for step, why in self.skipped}
        out["ts"] = self.ts
        return out


@dataclass(frozen=True, slots=True)
class ProbeCounts:
    """Kernel-side counts of one probe over one interval (not running totals)."""

    ts: float
    probe: str
    interval_s: float
    counts: dict[str, int] = field(hash=False)
    lost: int = 0
    bpf_ns: int = 0  # kernel time the probe's programs ran in this interval

    def to_json(self) -> dict[str, Any]:
        return {
            "type": "counts",
            "ts": self.ts,
            "probe": self.probe,
            "interval_s": self.interval_s,
            "counts": dict(self.counts),
            "lost": self.lost,
            "bpf_ns": self.bpf_ns,
        }


@dataclass(frozen=True, slots=True)
class ExecRecord:
    ts: float
    pid: int
    ppid: int | None
    uid: int
    comm: str
    argv: tuple[str, ...]
    ret: int
    filename: str = ""
    argv_truncated: bool = False

    @property
    def error(self) -> str | None:
        return errno_name(self.ret)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "type": "exec",
            "ts": self.ts,
            "pid": self.pid,
            "ppid": self.ppid,
            "uid": self.uid,
            "comm": self.comm,
            "filename": self.filename,
            "argv": list(self.argv),
            "ret": self.ret,
        }
        if self.argv_truncated:
            out["argv_truncated"] = True
        if self.ret < 0:
            out["error"] = self.error
        return out


CONNECT_RESULTS = ("established", "refused", "reset", "timeout", "aborted")


@dataclass(frozen=True, slots=True)
class ConnectRecord:
    ts: float
    pid: int | None  # None: the kernel context could not name the process
    comm: str | None
    uid: int | None
    direction: str  # "out" | "in"
    family: int  # 4 | 6
    saddr: str
    sport: int
    daddr: str
    dport: int
    latency_us: float | None
    result: str
    state: str | None = None  # TCP state the failure happened in

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "type": "connect",
            "ts": self.ts,
            "pid": self.pid,
            "comm": self.comm,
            "uid": self.uid,
            "direction": self.direction,
            "family": self.family,
            "saddr": self.saddr,
            "sport": self.sport,
            "daddr": self.daddr,
            "dport": self.dport,
            "latency_us": self.latency_us,
            "result": self.result,
        }
        if self.state:
            out["state"] = self.state
        return out


@dataclass(frozen=True, slots=True)
class SystemSample:
    """The header line: the box, and what bpftop itself costs it."""

    ts: float
    host: str
    kernel: str
    uptime_s: float
    load: tuple[float, float, float]
    cpu_percent: float
    mem_percent: float
    self_cpu_percent: float  # bpftop's own user-space CPU, % of one CPU
    self_rss_mb: float

    def to_json(self) -> dict[str, Any]:
        return {
            "type": "system",
            "ts": self.ts,
            "host": self.host,
            "kernel": self.kernel,
            "uptime_s": self.uptime_s,
            "load": list(self.load),
            "cpu_percent": self.cpu_percent,
            "mem_percent": self.mem_percent,
            "self_cpu_percent": self.self_cpu_percent,
            "self_rss_mb": self.self_rss_mb,
        }


Record = ProbeStatus | ProbeCounts | ExecRecord | ConnectRecord | SystemSample
