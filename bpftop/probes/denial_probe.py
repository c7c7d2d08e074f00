"""Permission denials: syscalls failing with EACCES/EPERM, with the refused
capability where one caused it (bpf/denials.c).

Counts per (comm, uid, syscall, errno) are exact and kept in the kernel; events
are sent within a per-CPU budget, so a crash-looping service is one group with a
rate, not a flood of records.
"""

from __future__ import annotations

import ctypes
import ipaddress
import socket
import struct
import time
from pathlib import Path
from typing import Any

from bpftop.core.records import (
    DenialGroupRecord,
    DenialRecord,
    Record,
    SilentCapRecord,
    errno_name,
)
from bpftop.host.capabilities import capability_names
from bpftop.host.kernel import KernelFeatures
from bpftop.host.syscall_table import ARG_PATH, ARG_SOCKADDR, argument_kinds, syscall_name
from bpftop.loader.compiler import CompileRequest
from bpftop.probes.base import PlanStep, Probe, c_string
from bpftop.probes.deltas import RunningTotals
from bpftop.probes.shared_sys_exit import DENIALS

ADDR_LEN = 28
# fexit targets of the LSM steps, and the LSM bits they report (LSM_* in bpf/denials.c).
LSM_HOOKS = ("hook_file_open", "apparmor_file_open")
LSM_NAMES = {1: "landlock", 2: "apparmor"}
# The LSM steps' hooks, richest first: a kernel built without Landlock (5.10, before 5.13)
# or without AppArmor still names the other. Each: what the subtitle says, the -D flag
# that leaves the missing hook out.
LSM_HOOK_SETS = (
    (LSM_HOOKS, "fexit:LSM hooks", ()),
    (("apparmor_file_open",), "fexit:AppArmor's hook", ("-DNO_LANDLOCK_HOOK",)),
    (("hook_file_open",), "fexit:Landlock's hook", ("-DNO_APPARMOR_HOOK",)),
)


def lsm_steps(
    via: str,
    tracepoints: tuple[str, ...],
    kprobes: tuple[str, ...] = (),
    cflags: tuple[str, ...] = (),
) -> tuple[PlanStep, ...]:
    """A capability step with fexit on the LSM hooks, for each set of hooks."""
    return tuple(
        PlanStep(
            via=f"{via} + {hooks_via}",
            tracepoints=tracepoints,
            prog_type="raw_tracepoint",
            kprobes=kprobes,
            fexit=hooks,
            cflags=(*cflags, "-DLSM_FEXIT", *leave_out),
        )
        for hooks, hooks_via, leave_out in LSM_HOOK_SETS
    )


GROUPS_KEEP = 8000  # above this many groups, quiet ones are dropped from the kernel map


def sockaddr_text(raw: bytes) -> str | None:
    """ "10.0.0.1:80", "[::1]:443" or a unix socket path, from a raw sockaddr."""
    if len(raw) < 2:
        return None
    family = struct.unpack_from("=H", raw)[0]
    if family == socket.AF_INET and len(raw) >= 8:
        port = struct.unpack_from("!H", raw, 2)[0]
        return f"{ipaddress.IPv4Address(raw[4:8])}:{port}"
    if family == socket.AF_INET6 and len(raw) >= 24:
        port = struct.unpack_from("!H", raw, 2)[0]
        return f"[{ipaddress.IPv6Address(raw[8:24])}]:{port}"
    if family == socket.AF_UNIX:
        path = raw[2:]
        return "@" + c_string(path[1:]) if path[:1] == b"\0" else c_string(path)
    return f"family {family}"


class DenialProbe(Probe):
    name = "denials"
    title = "Denials"
    source = "denials.c"
    plan = (
        # Where tracing programs load: also which LSM refused (fexit on its hooks).
        *lsm_steps(
            "raw_tracepoint:sys_exit + tracepoint:capability:cap_capable",
            tracepoints=("raw_syscalls:sys_exit", "capability:cap_capable"),
        ),
        *lsm_steps(
            "raw_tracepoint:sys_exit + kprobe:cap_capable",
            tracepoints=("raw_syscalls:sys_exit",),
            kprobes=("cap_capable",),
            cflags=("-DCAP_KPROBE",),
        ),
        PlanStep(
            via="raw_tracepoint:sys_exit + tracepoint:capability:cap_capable",
            tracepoints=("raw_syscalls:sys_exit", "capability:cap_capable"),
            prog_type="raw_tracepoint",
        ),
        # The tracepoint is recent (6.1 and 6.12 lack it); they have the function.
        PlanStep(
            via="raw_tracepoint:sys_exit + kprobe:cap_capable",
            tracepoints=("raw_syscalls:sys_exit",),
            prog_type="raw_tracepoint",
            kprobes=("cap_capable",),
            cflags=("-DCAP_KPROBE",),
        ),
        # Every denial with its path or address, only the refused capability unknown.
        PlanStep(
            via="raw_tracepoint:sys_exit (no capability causes)",
            tracepoints=("raw_syscalls:sys_exit",),
            prog_type="raw_tracepoint",
            cflags=("-DNO_CAP_HOOK",),
        ),
    )
    counter_names = ("denials", "sampled_out", "cap_refused", "cap_named", "table_full", "lost")
    lost_counter = "lost"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._groups: RunningTotals[tuple[bytes, int, int, int], int] = RunningTotals()
        # (comm, uid, nr, cap) -> (refused, named); `_owed`: named checks not yet
        # matched by a refusal this probe reported (the refusal fell in an earlier
        # interval), so an interval never shows fewer than zero.
        self._checks: RunningTotals[tuple[bytes, int, int, int], tuple[int, ...]] = RunningTotals()
        self._owed: dict[tuple[bytes, int, int, int], int] = {}

    @classmethod
    def plan_notes(cls, kernel: KernelFeatures) -> tuple[tuple[str, str], ...]:
        """The other mechanisms, and why they are not in use here."""
        selinux = Path("/sys/fs/selinux/enforce").exists()
        return (
            ("selinux: avc:selinux_audited", "not implemented yet" if selinux else "SELinux off"),
        )

    def load(self, step: PlanStep) -> Any:
        """Compile and attach the sys_exit program, which the exec probe may join
        (shared_sys_exit.py)."""
        shared = self.shared_sys_exit
        assert shared is not None, "the engine gives every probe the shared sys_exit hook"
        return shared.acquire(DENIALS, self.emit_event, step)

    def compile_request(self, step: PlanStep) -> CompileRequest:
        assert self.shared_sys_exit is not None, "the engine gives every probe the hook"
        return self.shared_sys_exit.compile_request(step)

    def stop(self) -> None:
        if self._bpf is not None and self.shared_sys_exit is not None:
            self.shared_sys_exit.release(DENIALS)
        self._bpf = None

    def poll(self) -> None:
        if self._bpf is not None and self.shared_sys_exit is not None:
            self.shared_sys_exit.poll()

    def prog_fds(self) -> list[int]:
        shared = self.shared_sys_exit
        return shared.part_fds(DENIALS) if shared is not None else []

    def on_started(self) -> None:
        table = self._bpf[b"arg_kinds"]
        for nr, kind in argument_kinds().items():
            table[ctypes.c_int(nr)] = ctypes.c_ubyte(kind)
        # The program may have counted for the exec probe before: start from its totals.
        self._groups.baseline({key: total for key, total, _ in self._read_groups()})
        self._checks.baseline(self._read_checks())
        self._owed = {}

    def _read_checks(self) -> dict[tuple[bytes, int, int, int], tuple[int, ...]]:
        """(comm, uid, nr, cap) -> (refused, named) running totals."""
        return {
            (bytes(k.comm), int(k.uid), int(k.nr), int(k.cap)): (int(v.refused), int(v.named))
            for k, v in self._bpf[b"silent_caps"].items()
        }

    def _silent_records(self, ts: float, interval_s: float) -> list[Record]:
        """The interval's silent checks per (comm, uid, syscall, capability)."""
        out: list[Record] = []
        for key, (refused, named) in sorted(self._checks.growth(self._read_checks()).items()):
            silent = refused - named - self._owed.pop(key, 0)
            if silent < 0:  # named now, refused in an interval already reported
                self._owed[key] = -silent
            elif silent:
                comm, uid, nr, cap = key
                out.append(SilentCapRecord(ts, round(interval_s, 3), c_string(comm), uid,
                                           syscall_name(nr), capability_names(1 << cap)[0],
                                           silent))  # fmt: skip
        return out

    def _read_groups(self) -> list[tuple[tuple[bytes, int, int, int], int, Any]]:
        """(comm, uid, nr, errno) -> running total, with the map's own key."""
        return [
            ((bytes(k.comm), int(k.uid), int(k.nr), int(k.ret)), int(v.value), k)
            for k, v in self._bpf[b"groups"].items()
        ]

    def decode(self, event: Any, data: int) -> DenialRecord:
        kind = int(event.arg_kind)
        path = c_string(bytes(event.arg)) if kind == ARG_PATH else None
        addr = None
        if kind == ARG_SOCKADDR:
            # bytes(event.arg) stops at the first NUL: read the raw sockaddr instead.
            raw = ctypes.string_at(data + type(event).arg.offset, ADDR_LEN)
            addr = sockaddr_text(raw)
        caps = capability_names(int(event.caps))
        lsms = [name for bit, name in LSM_NAMES.items() if int(event.lsms) & bit]
        # An LSM refuses after the mode and capability checks passed: it is the cause.
        mechanism, detail = (
            ("lsm", lsms) if lsms else ("capability", caps) if caps else ("syscall", [])
        )
        return DenialRecord(
            ts=self._clock.wall(event.ts_ns),
            pid=int(event.pid),
            comm=c_string(bytes(event.comm)),
            uid=int(event.uid),
            syscall=syscall_name(int(event.nr)),
            errno=errno_name(int(event.ret)) or "",
            path=path,
            addr=addr,
            mechanism=mechanism,
            detail=",".join(detail) if detail else None,
        )

    def interval_records(self, interval_s: float) -> list[Record]:
        """Exact per-group counts for the interval, from the kernel's running totals."""
        if self._bpf is None:
            return []
        ts = time.time()
        table = self._bpf[b"groups"]
        now: dict[tuple[bytes, int, int, int], int] = {}
        keys: dict[tuple[bytes, int, int, int], Any] = {}
        for key, total, map_key in self._read_groups():
            now[key] = total
            keys[key] = map_key
        records: list[Record] = []
        grown = self._groups.growth(now)
        for key, grew in sorted(grown.items()):
            comm, uid, nr, ret = key
            records.append(
                DenialGroupRecord(ts, round(interval_s, 3), c_string(comm), uid,
                                  syscall_name(nr), errno_name(ret) or "", grew)
            )  # fmt: skip
        if len(now) > GROUPS_KEEP:  # bounded map: forget groups quiet this interval
            for key in [k for k in now if k not in grown]:
                del table[keys[key]]
                self._groups.forget(key)
        return records + self._silent_records(ts, interval_s)
