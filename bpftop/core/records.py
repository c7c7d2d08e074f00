"""Typed, immutable records: the one currency between the BPF thread, the model,
the TUI, `--json` and the tests. `to_json()` is the headless wire format."""

from __future__ import annotations

import errno
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

from bpftop.core.histogram import Bucket, LatencySummary


def _fields_json(record: Any) -> dict[str, Any]:
    """`{"type": TYPE, field: value, ...}` in field order, for records that send every
    field as it is."""
    return {"type": record.TYPE, **{f.name: getattr(record, f.name) for f in fields(record)}}


PROBE_STATES = ("attaching", "attached", "unavailable", "detached")
# In the exec probe's `via` while failed execs are not captured (the pane says so).
EXEC_FAILURES_OFF = "failed execs off"


def errno_name(ret: int) -> str | None:
    """ "ENOENT" for -2; None for success."""
    if ret >= 0:
        return None
    return errno.errorcode.get(-ret, f"E{-ret}")


@dataclass(frozen=True, slots=True)
class ProbeStatus:
    TYPE: ClassVar[str] = "status"  # "type" in its JSON
    ts: float
    probe: str
    state: str
    via: str | None = None
    reason: str | None = None
    # Plan steps passed over before `via`, as (step, why) pairs.
    skipped: tuple[tuple[str, str], ...] = ()

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.TYPE, "probe": self.probe, "state": self.state}
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

    TYPE: ClassVar[str] = "counts"  # "type" in its JSON

    ts: float
    probe: str
    interval_s: float
    counts: dict[str, int] = field(hash=False)
    lost: int = 0
    # Kernel time the probe's programs ran in this interval; None in the intervals
    # where run-time stats were off (they are sampled: see engine.STATS_SAMPLE_EVERY).
    bpf_ns: int | None = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "type": self.TYPE,
            "ts": self.ts,
            "probe": self.probe,
            "interval_s": self.interval_s,
            "counts": dict(self.counts),
            "lost": self.lost,
            "bpf_ns": self.bpf_ns,
        }


@dataclass(frozen=True, slots=True)
class ExecRecord:
    TYPE: ClassVar[str] = "exec"  # "type" in its JSON
    ts: float
    pid: int
    ppid: int | None
    uid: int
    comm: str
    argv: tuple[str, ...]
    ret: int
    filename: str = ""
    argv_truncated: bool = False
    # Failed execs of the same name by the same pid just before this one succeeded: a
    # PATH lookup (execvp trying each directory), folded in here, never a failure.
    path_tries: int = 0

    @property
    def error(self) -> str | None:
        return errno_name(self.ret)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "type": self.TYPE,
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
        if self.path_tries:
            out["path_tries"] = self.path_tries
        if self.ret < 0:
            out["error"] = self.error
        return out


CONNECT_RESULTS = ("established", "refused", "reset", "timeout", "aborted", "error")


@dataclass(frozen=True, slots=True)
class ConnectRecord:
    TYPE: ClassVar[str] = "connect"  # "type" in its JSON
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
    # Inbound: pid, comm and uid name the owner of the socket that listened (the kernel
    # completes inbound handshakes with no task to name; the listener's owner is the
    # one process they can belong to). False with pid None: no owner known.
    listener: bool = False
    # result "error": connect() failed at once, with this errno (ENETUNREACH, say)
    errno: str | None = None

    @property
    def outcome(self) -> str:
        """What the panes show and group by: the result, or for an error its errno."""
        return self.errno or self.result

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "type": self.TYPE,
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
        if self.listener:
            out["listener"] = True
        if self.errno:
            out["errno"] = self.errno
        return out


@dataclass(frozen=True, slots=True)
class DiskOpTotals:
    """One kind of I/O (read, write, discard, other) on one device over one interval,
    for the Prometheus histogram per operation. Not in `to_json()`: the JSON line and
    recordings keep the device-wide histogram only."""

    op: str
    ios: int
    bytes: int
    hist: tuple[Bucket, ...]  # the timed I/Os, from the kernel's buckets
    latency_us: float  # the sum of the timed I/Os' latencies


@dataclass(frozen=True, slots=True)
class DiskRecord:
    """One block device over one interval; latency from the kernel's histogram."""

    TYPE: ClassVar[str] = "disk"  # "type" in its JSON

    ts: float
    dev: str  # "vda", "loop0"; "MAJ:MIN" when /sys has no name for it
    interval_s: float
    reads: int
    writes: int
    read_bytes: int
    write_bytes: int
    discards: int = 0
    flushes: int = 0  # flushes and other non-data requests
    errors: int = 0
    untimed: int = 0  # completions whose start bpftop did not see (no latency)
    lat_us: LatencySummary | None = None
    hist: tuple[Bucket, ...] = ()
    queue_us: float | None = None  # average start -> issue, where the kernel shows both
    device_us: float | None = None  # average issue -> complete
    by_op: tuple[DiskOpTotals, ...] = field(default=(), compare=False)

    @property
    def ios(self) -> int:
        return self.reads + self.writes + self.discards + self.flushes

    def to_json(self) -> dict[str, Any]:
        return {
            "type": self.TYPE,
            "ts": self.ts,
            "dev": self.dev,
            "interval_s": self.interval_s,
            "reads": self.reads,
            "writes": self.writes,
            "read_bytes": self.read_bytes,
            "write_bytes": self.write_bytes,
            "discards": self.discards,
            "flushes": self.flushes,
            "errors": self.errors,
            "untimed": self.untimed,
            "lat_us": self.lat_us.to_json() if self.lat_us else None,
            "hist": [[low, high, count] for low, high, count in self.hist],
            "queue_us": self.queue_us,
            "device_us": self.device_us,
        }


@dataclass(frozen=True, slots=True)
class DiskProcRecord:
    """I/O one process submitted to one device over one interval."""

    TYPE: ClassVar[str] = "disk_proc"  # "type" in its JSON

    ts: float
    pid: int | None  # None: the kernel did not name the submitter
    comm: str | None
    dev: str
    interval_s: float
    reads: int
    writes: int
    read_bytes: int
    write_bytes: int
    avg_lat_us: float | None
    slow: int = 0  # I/Os at or above the slow threshold (0 when none is set)

    def to_json(self) -> dict[str, Any]:
        return _fields_json(self)


@dataclass(frozen=True, slots=True)
class SlowIoRecord:
    """One I/O at or above the user's slow threshold."""

    TYPE: ClassVar[str] = "disk_slow"  # "type" in its JSON

    ts: float
    dev: str
    pid: int | None
    comm: str | None
    op: str  # read | write | discard | other
    bytes: int
    sector: int
    lat_us: float
    queue_us: float | None
    error: int = 0

    def to_json(self) -> dict[str, Any]:
        return _fields_json(self)


@dataclass(frozen=True, slots=True)
class DenialRecord:
    """One syscall that failed with EACCES/EPERM (sampled under a flood)."""

    TYPE: ClassVar[str] = "denial"  # "type" in its JSON

    ts: float
    pid: int
    comm: str
    uid: int
    syscall: str
    errno: str  # "EACCES" | "EPERM"
    path: str | None  # for syscalls that take a path
    addr: str | None  # for connect/bind/sendto: "10.0.0.1:80", "[::1]:80", a unix path
    mechanism: str  # "capability" when the syscall had a refused capability check, else "syscall"
    detail: str | None  # "CAP_NET_BIND_SERVICE" (several joined with ",")

    def to_json(self) -> dict[str, Any]:
        return _fields_json(self)


@dataclass(frozen=True, slots=True)
class DenialGroupRecord:
    """Exact count of one (comm, uid, syscall, errno) group's denials in one interval."""

    TYPE: ClassVar[str] = "denial_group"  # "type" in its JSON

    ts: float
    interval_s: float
    comm: str
    uid: int
    syscall: str
    errno: str
    count: int

    def to_json(self) -> dict[str, Any]:
        return _fields_json(self)


@dataclass(frozen=True, slots=True)
class SilentCapRecord:
    """Refused capability checks that failed no syscall, of one (comm, uid, syscall,
    capability) in one interval: who makes the Denials pane's "silent caps" grow."""

    TYPE: ClassVar[str] = "silent_cap"  # "type" in its JSON

    ts: float
    interval_s: float
    comm: str
    uid: int
    syscall: str  # the syscall the check ran in
    cap: str  # "CAP_SYS_ADMIN"
    count: int

    def to_json(self) -> dict[str, Any]:
        return _fields_json(self)


XDP_ACTIONS = ("pass", "drop", "tx", "redirect", "aborted")


@dataclass(frozen=True, slots=True)
class XdpRecord:
    """One interface over one interval, from one source of XDP counts.

    `source` is "driver" (the driver's own ethtool counters), "bpftop" (bpftop's own
    program), "fexit" (every action of a foreign program, from fexit on it),
    "tracepoint" (xdp exceptions and redirect errors), or None for an interface with
    none of them, which is still reported for its state and packet rates.
    """

    TYPE: ClassVar[str] = "xdp"  # "type" in its JSON

    ts: float
    ifname: str
    ifindex: int
    interval_s: float
    state: str
    rx_pps: float
    tx_pps: float
    prog: dict[str, Any] | None = field(default=None, hash=False)  # id, name, mode, owner
    actions: dict[str, int | None] | None = field(default=None, hash=False)
    source: str | None = None
    # bpftop's own program only: packets per protocol, drops per rule, this interval
    protocols: dict[str, int] | None = field(default=None, hash=False)
    rules: list[dict[str, Any]] | None = field(default=None, hash=False)
    top_sources: list[dict[str, Any]] | None = field(default=None, hash=False)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "type": self.TYPE,
            "ts": self.ts,
            "ifname": self.ifname,
            "ifindex": self.ifindex,
            "interval_s": self.interval_s,
            "state": self.state,
            "prog": self.prog,
            "actions": self.actions,
            "source": self.source,
            "rx_pps": self.rx_pps,
            "tx_pps": self.tx_pps,
        }
        if self.protocols is not None:
            out["protocols"] = self.protocols
        if self.rules is not None:
            out["rules"] = self.rules
        if self.top_sources is not None:
            out["top_sources"] = self.top_sources
        return out


@dataclass(frozen=True, slots=True)
class SyscallRow:
    syscall: str
    calls: int
    errors: dict[str, int] = field(hash=False)  # {"EAGAIN": 3}
    total_us: float

    def to_json(self) -> dict[str, Any]:
        return {
            "syscall": self.syscall,
            "calls": self.calls,
            "errors": self.errors,
            "total_us": self.total_us,
            "avg_us": round(self.total_us / self.calls, 3) if self.calls else 0.0,
        }


@dataclass(frozen=True, slots=True)
class SyscallsRecord:
    """One process's syscalls over one interval (exact counts), busiest first."""

    TYPE: ClassVar[str] = "syscalls"  # "type" in its JSON

    ts: float
    pid: int
    interval_s: float
    rows: tuple[SyscallRow, ...]
    exited: bool = False  # the process is gone; these were its last calls

    def to_json(self) -> dict[str, Any]:
        out = {
            "type": self.TYPE,
            "ts": self.ts,
            "pid": self.pid,
            "interval_s": self.interval_s,
            "rows": [row.to_json() for row in self.rows],
        }
        if self.exited:
            out["exited"] = True
        return out


@dataclass(frozen=True, slots=True)
class UprobeRecord:
    """Calls of one user function in one process over one interval."""

    TYPE: ClassVar[str] = "uprobe"  # "type" in its JSON

    ts: float
    pid: int
    target: str  # "libc.so.6", or the binary's file name
    path: str
    symbol: str
    interval_s: float
    calls: int
    lat_us: dict[str, float] | None = field(default=None, hash=False)  # p50, p99, max bucket
    hist: tuple[Bucket, ...] = ()  # (low_us, high_us, count) of the returns
    exited: bool = False
    # What the probe cost the process over the interval, % of one CPU: calls x the trap
    # price measured on this box (probes/uprobe_cost.py). None: not known (old records).
    cost_pct: float | None = None

    def to_json(self) -> dict[str, Any]:
        out = {
            "type": self.TYPE,
            "ts": self.ts,
            "pid": self.pid,
            "target": self.target,
            "path": self.path,
            "symbol": self.symbol,
            "interval_s": self.interval_s,
            "calls": self.calls,
            "lat_us": self.lat_us,
            "hist": [list(b) for b in self.hist],
            "cost_pct": self.cost_pct,
        }
        if self.exited:
            out["exited"] = True
        return out


@dataclass(frozen=True, slots=True)
class CpuRecord:
    """One process's (or one comm's exited processes') share of the CPU over one interval,
    from in-kernel sampling: 100.0 is one CPU for the whole interval."""

    TYPE: ClassVar[str] = "cpu"  # "type" in its JSON

    ts: float
    interval_s: float
    pid: int | None  # None: processes of this comm that exited before the interval's read
    comm: str
    cpu_pct: float
    runq_p99_us: float | None  # how long its threads waited for a CPU (None: no waits seen)
    rss_bytes: int | None  # None: the process is gone
    state: str | None = None  # psutil's status of a live process ("running", "sleeping")
    procs: int = 1  # processes this row covers (more than one only for an exited comm)

    def to_json(self) -> dict[str, Any]:
        return _fields_json(self)


@dataclass(frozen=True, slots=True)
class RunqRecord:
    """Box-wide run-queue latency over one interval: how long runnable tasks waited."""

    TYPE: ClassVar[str] = "runq"  # "type" in its JSON

    ts: float
    interval_s: float
    hist: tuple[Bucket, ...]
    p50_us: float | None  # None: no task waited in the interval
    p99_us: float | None

    def to_json(self) -> dict[str, Any]:
        return {
            "type": self.TYPE,
            "ts": self.ts,
            "interval_s": self.interval_s,
            "hist": [[low, high, count] for low, high, count in self.hist],
            "p50_us": self.p50_us,
            "p99_us": self.p99_us,
        }


@dataclass(frozen=True, slots=True)
class SystemSample:
    """The header line: the box, and what bpftop itself costs it."""

    TYPE: ClassVar[str] = "system"  # "type" in its JSON

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
            "type": self.TYPE,
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


Record = (
    ProbeStatus
    | ProbeCounts
    | ExecRecord
    | ConnectRecord
    | DiskRecord
    | DiskProcRecord
    | SlowIoRecord
    | DenialRecord
    | DenialGroupRecord
    | SilentCapRecord
    | XdpRecord
    | CpuRecord
    | RunqRecord
    | SyscallsRecord
    | UprobeRecord
    | SystemSample
)

# One record per thing that happened: these come by the thousand per second in a storm.
# Every other record carries one interval's aggregate (counts, histograms, groups, top
# lists), a few per second whatever the load: a record budget spends itself on events
# only, so the aggregates of a whole window always survive a storm.
EVENT_TYPES = (ExecRecord, ConnectRecord, DenialRecord, SlowIoRecord)


def is_event(record: Record) -> bool:
    return isinstance(record, EVENT_TYPES)
