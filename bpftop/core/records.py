"""Typed, immutable records: the one currency between the BPF thread, the model,
the TUI, `--json` and the tests. `to_json()` is the headless wire format."""

from __future__ import annotations

import errno
from collections.abc import Callable
from dataclasses import dataclass, field, fields, is_dataclass
from typing import Any, ClassVar

from bpftop.core.histogram import Bucket, LatencySummary


def wire(
    *,
    omit_empty: bool = False,
    omit_none: bool = False,
    skip: bool = False,
    place: str | None = None,
    encode: Callable[[Any], Any] | None = None,
) -> dict[str, Any]:
    """A field's JSON facts, as dataclass metadata: `field(metadata=wire(...))`.
    omit_empty: left out when false, zero or empty; omit_none: left out when None;
    skip: never in the JSON; place: "last", or "after:NAME" (the wire order recordings
    were written in, where it differs from the fields'); encode: the value's JSON form
    where it is not the value itself."""
    return {"wire": {"omit_empty": omit_empty, "omit_none": omit_none, "skip": skip,
                     "place": place, "encode": encode}}  # fmt: skip


def to_json(record: object) -> dict[str, Any]:
    """The one encoder: `{"type": TYPE, field: value, ...}` in field order, as each
    field's `wire()` metadata says, then the properties the class lists in
    JSON_COMPUTED (left out when None). Tuples become lists, nested records objects."""
    cls = type(record)
    head, order, computed = _PLANS.get(cls) or _PLANS.setdefault(cls, _wire_plan(cls))
    out = dict(head)
    for name, omit_empty, omit_none, encode in order:
        value = getattr(record, name)
        if (omit_empty and not value) or (omit_none and value is None):
            continue
        if encode is not None:
            value = encode(value)
        out[name] = value if type(value) in _SCALARS else _plain(value)
    for name in computed:
        value = getattr(record, name)
        if value is not None:
            out[name] = _plain(value)
    return out


_SCALARS = {int, float, str, bool, type(None)}
WireField = tuple[str, bool, bool, Callable[[Any], Any] | None]


WirePlan = tuple[dict[str, str], tuple[WireField, ...], tuple[str, ...]]
_PLANS: dict[type, WirePlan] = {}  # by class: the encoder runs for every record --json writes


def _wire_plan(cls: type) -> WirePlan:
    """The class's "type", its JSON fields in wire order and its computed properties,
    worked out once per class."""
    order: list[str] = []
    facts = {f.name: f.metadata.get("wire", {}) for f in fields(cls)}
    moved: list[str] = []
    for name, fact in facts.items():
        if fact.get("skip"):
            continue
        (moved if fact.get("place") else order).append(name)
    for name in moved:
        place = facts[name]["place"]
        at = len(order) if place == "last" else order.index(place.removeprefix("after:")) + 1
        order.insert(at, name)
    head = {"type": cls.TYPE} if hasattr(cls, "TYPE") else {}
    wired = tuple((name, bool(facts[name].get("omit_empty")), bool(facts[name].get("omit_none")),
                   facts[name].get("encode")) for name in order)  # fmt: skip
    return head, wired, getattr(cls, "JSON_COMPUTED", ())


class Wire:
    """What every record (and a record's nested rows) has: `to_json()`, its wire form."""

    __slots__ = ()

    def to_json(self) -> dict[str, Any]:
        return to_json(self)


def _plain(value: Any) -> Any:
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if is_dataclass(value):
        return to_json(value)
    return value


PROBE_STATES = ("attaching", "attached", "unavailable", "detached")
# A status's `code`: what its prose says, for code that must act on it (the prose is for
# people, and may change).
EXEC_FAILURES_OFF = "exec_failures_off"  # attached, but failed execs are not captured
OVER_BUDGET = "over_budget"  # a uprobe detached: it cost its process more than the budget
# Attached, and failed execs come from a sys_exit hook that every syscall of the box pays.
EXEC_FAILURES_COSTLY = "exec_failures_costly"


def errno_name(ret: int) -> str | None:
    """ "ENOENT" for -2; None for success."""
    if ret >= 0:
        return None
    return errno.errorcode.get(-ret, f"E{-ret}")


@dataclass(frozen=True, slots=True)
class ProbeStatus(Wire):
    TYPE: ClassVar[str] = "status"  # "type" in its JSON
    ts: float = field(metadata=wire(place="last"))
    probe: str
    state: str
    via: str | None = field(default=None, metadata=wire(omit_empty=True))
    reason: str | None = field(default=None, metadata=wire(omit_empty=True))
    # Plan steps passed over before `via`, as (step, why) pairs; in JSON {step: why}.
    skipped: tuple[tuple[str, str], ...] = field(
        default=(), metadata=wire(omit_empty=True, encode=dict)
    )
    code: str | None = field(default=None, metadata=wire(omit_empty=True))  # see above


@dataclass(frozen=True, slots=True)
class ProbeCounts(Wire):
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


@dataclass(frozen=True, slots=True)
class ExecRecord(Wire):
    TYPE: ClassVar[str] = "exec"  # "type" in its JSON
    ts: float
    pid: int
    ppid: int | None
    uid: int
    comm: str
    argv: tuple[str, ...]
    ret: int
    filename: str = field(default="", metadata=wire(place="after:comm"))
    argv_truncated: bool = field(default=False, metadata=wire(omit_empty=True))
    # Failed execs of the same name by the same pid just before this one succeeded: a
    # PATH lookup (execvp trying each directory), folded in here, never a failure.
    path_tries: int = field(default=0, metadata=wire(omit_empty=True))
    JSON_COMPUTED: ClassVar[tuple[str, ...]] = ("error",)

    @property
    def error(self) -> str | None:
        return errno_name(self.ret)


CONNECT_RESULTS = ("established", "refused", "reset", "timeout", "aborted", "error")


@dataclass(frozen=True, slots=True)
class ConnectRecord(Wire):
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
    # The TCP state the failure happened in.
    state: str | None = field(default=None, metadata=wire(omit_empty=True))
    # Inbound: pid, comm and uid name the owner of the socket that listened (the kernel
    # completes inbound handshakes with no task to name; the listener's owner is the
    # one process they can belong to). False with pid None: no owner known.
    listener: bool = field(default=False, metadata=wire(omit_empty=True))
    # result "error": connect() failed at once, with this errno (ENETUNREACH, say)
    errno: str | None = field(default=None, metadata=wire(omit_empty=True))

    @property
    def outcome(self) -> str:
        """What the panes show and group by: the result, or for an error its errno."""
        return self.errno or self.result


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
class DiskRecord(Wire):
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
    by_op: tuple[DiskOpTotals, ...] = field(default=(), compare=False, metadata=wire(skip=True))

    @property
    def ios(self) -> int:
        return self.reads + self.writes + self.discards + self.flushes


@dataclass(frozen=True, slots=True)
class DiskProcRecord(Wire):
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


@dataclass(frozen=True, slots=True)
class SlowIoRecord(Wire):
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


@dataclass(frozen=True, slots=True)
class DenialRecord(Wire):
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


@dataclass(frozen=True, slots=True)
class DenialGroupRecord(Wire):
    """Exact count of one (comm, uid, syscall, errno) group's denials in one interval."""

    TYPE: ClassVar[str] = "denial_group"  # "type" in its JSON

    ts: float
    interval_s: float
    comm: str
    uid: int
    syscall: str
    errno: str
    count: int


@dataclass(frozen=True, slots=True)
class SilentCapRecord(Wire):
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


XDP_ACTIONS = ("pass", "drop", "tx", "redirect", "aborted")


@dataclass(frozen=True, slots=True)
class XdpRecord(Wire):
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
    rx_pps: float = field(metadata=wire(place="after:source"))
    tx_pps: float = field(metadata=wire(place="after:rx_pps"))
    prog: dict[str, Any] | None = field(default=None, hash=False)  # id, name, mode, owner
    actions: dict[str, int | None] | None = field(default=None, hash=False)
    source: str | None = None
    # bpftop's own program only: packets per protocol, drops per rule, this interval
    protocols: dict[str, int] | None = field(
        default=None, hash=False, metadata=wire(omit_none=True)
    )
    rules: list[dict[str, Any]] | None = field(
        default=None, hash=False, metadata=wire(omit_none=True)
    )
    top_sources: list[dict[str, Any]] | None = field(
        default=None, hash=False, metadata=wire(omit_none=True)
    )


@dataclass(frozen=True, slots=True)
class SyscallRow(Wire):
    syscall: str
    calls: int
    errors: dict[str, int] = field(hash=False)  # {"EAGAIN": 3}
    total_us: float
    JSON_COMPUTED: ClassVar[tuple[str, ...]] = ("avg_us",)

    @property
    def avg_us(self) -> float:
        return round(self.total_us / self.calls, 3) if self.calls else 0.0


@dataclass(frozen=True, slots=True)
class SyscallsRecord(Wire):
    """One process's syscalls over one interval (exact counts), busiest first."""

    TYPE: ClassVar[str] = "syscalls"  # "type" in its JSON

    ts: float
    pid: int
    interval_s: float
    rows: tuple[SyscallRow, ...]
    # The process is gone; these were its last calls.
    exited: bool = field(default=False, metadata=wire(omit_empty=True))


@dataclass(frozen=True, slots=True)
class UprobeRecord(Wire):
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
    exited: bool = field(default=False, metadata=wire(omit_empty=True, place="last"))
    # What the probe cost the process over the interval, % of one CPU: calls x the trap
    # price measured on this box (probes/uprobe_cost.py). None: not known (old records).
    cost_pct: float | None = None


@dataclass(frozen=True, slots=True)
class CpuRecord(Wire):
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


@dataclass(frozen=True, slots=True)
class RunqRecord(Wire):
    """Box-wide run-queue latency over one interval: how long runnable tasks waited."""

    TYPE: ClassVar[str] = "runq"  # "type" in its JSON

    ts: float
    interval_s: float
    hist: tuple[Bucket, ...]
    p50_us: float | None  # None: no task waited in the interval
    p99_us: float | None


@dataclass(frozen=True, slots=True)
class SystemSample(Wire):
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
