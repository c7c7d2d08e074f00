"""Python functions by name in the drilldown: calls and latency per Python function
(name, file:line) from CPython's function__entry/function__return USDT probes, read
in the kernel by bpf/uprobes.c (py_entry, py_return) and counted there per function.

The probes fire only while their semaphores are set; the kernel sets them with the
probes (perf_uprobe's ref_ctr_offset) and clears them when bpftop lets go, SIGKILL
included. An interpreter built without --with-dtrace has no such probes: then the
view says so. Each call traps twice (entry and return), priced like any uprobe.

CPython 3.11 fires function__entry only while a tracer is set (its line tracing, which
bpftop never turns on): there the view counts calls exactly from function__return but
has no latency, and a row's line is the line the function returned from (a function
with two return statements has two rows). The view says so when it sees it.
"""

from __future__ import annotations

import ctypes
import os
import time
from dataclasses import dataclass, field
from typing import Any

from bpftop.core.histogram import log2_ns_latency
from bpftop.core.records import UprobeRecord
from bpftop.host.user_binaries import PYTHON_ENTRY, PYTHON_RETURN, python_probes
from bpftop.loader.compiler import PROG_TYPE_KPROBE
from bpftop.loader.perf_uprobe import open_uprobe
from bpftop.probes.deltas import RunningTotals
from bpftop.probes.usdt_args import parse_args

TOP = 50  # busiest functions reported per interval
TRAPS_PER_CALL = 2


@dataclass
class PythonFunctions:
    """The attached pair and what the kernel had counted at the last read."""

    path: str
    fds: tuple[int, ...]
    # Per function (file, name, line): (calls, returns, histogram buckets...) last read.
    totals: RunningTotals[bytes, tuple[int, ...]] = field(default_factory=RunningTotals)
    cost_pct: float = 0.0
    calls_only: bool = False  # calls came back, but no entry ever fired: no latency

    @classmethod
    def attach(cls, bpf: Any, pid: int) -> PythonFunctions:
        path, open_path, entry, ret = python_probes(pid)
        # Where the names are read (at return), and the first line (at entry).
        at_return, at_entry = parse_args(ret.args), parse_args(entry.args)
        if len(at_return) < 3 or len(at_entry) < 3:
            raise ValueError(
                f"python:{PYTHON_ENTRY}/{PYTHON_RETURN} do not pass (file, name, line)"
            )
        table = bpf[b"pyargs"]
        for i, arg in enumerate([*at_return[:3], at_entry[2]]):
            leaf = table.Leaf()
            leaf.reg, leaf.deref, leaf.disp = arg.reg, int(arg.deref), arg.disp
            leaf.size, leaf.is_signed = arg.size, int(arg.signed)
            table[ctypes.c_int(i)] = leaf
        fds: list[int] = []
        try:
            for probe, fn in ((entry, b"py_entry"), (ret, b"py_return")):
                fd = bpf.load_func(fn, PROG_TYPE_KPROBE).fd
                fds.append(open_uprobe(open_path, probe.offset, pid, fd, probe.semaphore_offset))
        except OSError as exc:
            for fd in fds:
                os.close(fd)
            raise ValueError(
                f"cannot attach python:{PYTHON_ENTRY}/{PYTHON_RETURN}: {exc.strerror}"
            ) from None
        return cls(path, tuple(fds))

    def close(self) -> None:
        for fd in self.fds:
            os.close(fd)
        self.fds = ()

    def read(self, bpf: Any, pid: int, interval_s: float, trap_s: float,
             exited: bool) -> list[UprobeRecord]:  # fmt: skip
        """The busiest functions of the interval, one record each; sets cost_pct."""
        now = time.time()
        keys, totals = {}, {}
        for key, stats in bpf[b"pystats"].items():
            raw = bytes(key.file) + b"\0" + bytes(key.name) + b"\0" + str(key.line).encode()
            keys[raw] = key
            totals[raw] = (stats.calls, stats.returns, *stats.hist)
        changed = []
        timed = 0  # calls of the interval with a latency (their entry fired)
        for raw, (calls, returns, *delta) in self.totals.deltas(totals).items():
            timed += returns
            if calls:
                changed.append((calls, keys[raw], delta))
        total = sum(calls for calls, _key, _delta in changed)
        if total:
            self.calls_only = timed == 0
        self.cost_pct = total / interval_s * TRAPS_PER_CALL * trap_s * 100 if interval_s else 0.0
        changed.sort(key=lambda c: -c[0])
        return [self._record(now, pid, interval_s, trap_s, exited, *c) for c in changed[:TOP]]

    def _record(self, now: float, pid: int, interval_s: float, trap_s: float, exited: bool,
                calls: int, key: Any, delta: list[int]) -> UprobeRecord:  # fmt: skip
        file = bytes(key.file).split(b"\0", 1)[0].decode(errors="replace")
        name = bytes(key.name).split(b"\0", 1)[0].decode(errors="replace")
        buckets, lat = log2_ns_latency(delta)
        cost = calls / interval_s * TRAPS_PER_CALL * trap_s * 100 if interval_s else 0.0
        return UprobeRecord(now, pid, f"{os.path.basename(file)}:{key.line}", file, name,
                            interval_s, calls, lat, buckets, exited, round(cost, 3))  # fmt: skip
