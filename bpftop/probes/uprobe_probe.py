"""Calls and latency of user functions picked by the user, in one process
(bpf/uprobes.c): uprobe + uretprobe per function, attached with the target's pid;
and calls of USDT probes (an entry uprobe through perf_uprobe, semaphore and all).

bcc attaches uprobes through perf_event_open with the uprobe PMU: the probes are
fds of this process, so the kernel removes them when bpftop exits or is killed,
and nothing is written to uprobe_events. Only functions a symbol table places,
in a file not replaced since the process started (user_binaries.resolve).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any

from bpftop.model.histogram import percentile
from bpftop.probes.base import PidProbe, PlanStep
from bpftop.probes.compiler import PROG_TYPE_KPROBE
from bpftop.probes.perf_uprobe import open_uprobe
from bpftop.probes.user_binaries import UserCodeError, host_path, resolve, resolve_usdt
from bpftop.records import Record, UprobeRecord

UPROBE_SLOTS = 16  # bpf/uprobes.c compiles this many enter_N/leave_N pairs
LAT_BUCKETS = 64

# One key away in the drilldown, when the library is mapped.
PRESETS: dict[str, tuple[str, ...]] = {
    "libc": ("c:malloc", "c:free", "c:read", "c:write", "c:open", "c:connect"),
    "openssl": ("ssl:SSL_read", "ssl:SSL_write"),
}


@dataclass
class Attached:
    spec: str  # as the user gave it
    target: str
    path: str  # as the process sees it
    open_path: str  # as bpftop opens it, through /proc/PID/root
    symbol: str
    slot: int
    last: tuple[int, tuple[int, ...]] = (0, ())  # calls and histogram at the last read
    perf_fds: tuple[int, ...] = ()  # a USDT probe's own perf event (bcc keeps the others)

    def close_perf_fds(self) -> None:
        for fd in self.perf_fds:
            os.close(fd)
        self.perf_fds = ()


def log2_bucket_us(index: int) -> tuple[float, float]:
    """Bucket b of uprobes.c holds [2^(b-1), 2^b) ns; in microseconds."""
    low = 0 if index == 0 else 2 ** (index - 1)
    return low / 1000, 2**index / 1000


class UprobeProbe(PidProbe):
    name = "uprobes"
    title = "Uprobes"
    source = "uprobes.c"
    plan = (
        PlanStep(
            via="uprobe + uretprobe (perf_event uprobe PMU, pid only)",
            prog_type="uprobe",
            needs_ringbuf=False,
        ),
    )
    counter_names = ("unmatched", "lost")
    lost_counter = "lost"
    program_type = PROG_TYPE_KPROBE  # the enter_N and leave_N slots, attached on demand
    controls = ("attach", "detach", "clear")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.wanted: list[str] = []  # specs, kept across stop/start
        self.attached: dict[str, Attached] = {}

    def on_new_pid(self, pid: int) -> None:
        if pid != self.pid:
            self.wanted = []  # functions of another process

    def on_started(self) -> None:
        self.attached = {}
        problems = []
        for spec in self.wanted:
            try:
                self._attach(spec)
            except ValueError as exc:
                problems.append(f"{spec}: {exc}")
        self.notice = "; ".join(problems) or None

    def control(self, action: str, arg: str) -> None:
        if action == "attach":
            if arg in self.wanted:
                return
            if self.active:
                self._attach(arg)
            self.wanted.append(arg)
        elif action == "detach":
            if arg in self.wanted:
                self.wanted.remove(arg)
            if arg in self.attached:
                self._detach(self.attached.pop(arg))
        elif action == "clear":
            for spec in list(self.attached):
                self._detach(self.attached.pop(spec))
            self.wanted = []
        else:
            super().control(action, arg)

    def _free_slot(self) -> int:
        taken = {a.slot for a in self.attached.values()}
        free = [slot for slot in range(UPROBE_SLOTS) if slot not in taken]
        if not free:
            raise ValueError(f"at most {UPROBE_SLOTS} probes at once; detach one first")
        return free[0]

    def _attach(self, spec: str) -> None:
        assert self.pid is not None
        if spec.startswith("usdt:"):
            self._attach_usdt(spec)
            return
        try:
            mapped, symbol = resolve(self.pid, spec)
        except UserCodeError as exc:
            raise ValueError(str(exc)) from None
        slot = self._free_slot()
        path = host_path(self.pid, mapped).encode()
        try:
            self._bpf.attach_uprobe(
                name=path, sym=symbol.encode(), fn_name=f"enter_{slot}".encode(), pid=self.pid
            )
        except Exception as exc:  # bcc raises bare Exception
            raise ValueError(f"cannot attach {spec}: {exc}") from None
        try:
            self._bpf.attach_uretprobe(
                name=path, sym=symbol.encode(), fn_name=f"leave_{slot}".encode(), pid=self.pid
            )
        except Exception as exc:
            self._bpf.detach_uprobe(name=path, sym=symbol.encode(), pid=self.pid)
            raise ValueError(f"cannot attach the return probe of {spec}: {exc}") from None
        entry = Attached(spec, mapped.label, mapped.path, path.decode(), symbol, slot)
        entry.last = self._read_slot(slot)  # a reused slot keeps its old totals
        self.attached[spec] = entry

    def _attach_usdt(self, spec: str) -> None:
        """A USDT probe: entry only (calls, no latency), through our own perf event so
        the kernel manages its semaphore (perf_uprobe)."""
        assert self.pid is not None
        try:
            mapped, probe = resolve_usdt(self.pid, spec)
        except UserCodeError as exc:
            raise ValueError(str(exc)) from None
        slot = self._free_slot()
        path = host_path(self.pid, mapped)
        prog = self._bpf.load_func(f"enter_{slot}".encode(), PROG_TYPE_KPROBE)
        try:
            fd = open_uprobe(path, probe.offset, self.pid, prog.fd, probe.semaphore_offset)
        except OSError as exc:
            raise ValueError(f"cannot attach {spec}: {exc.strerror}") from None
        entry = Attached(spec, mapped.label, mapped.path, path, probe.label, slot, perf_fds=(fd,))
        entry.last = self._read_slot(slot)
        self.attached[spec] = entry

    def stop(self) -> None:
        """bcc's cleanup detaches its uprobes; the USDT probes' fds are ours to close."""
        for entry in self.attached.values():
            entry.close_perf_fds()
        self.attached = {}
        super().stop()

    def _detach(self, entry: Attached) -> None:
        if self._bpf is None or self.pid is None:
            return
        if entry.perf_fds:
            entry.close_perf_fds()
            return
        path = entry.open_path.encode()
        self._bpf.detach_uprobe(name=path, sym=entry.symbol.encode(), pid=self.pid)
        self._bpf.detach_uretprobe(name=path, sym=entry.symbol.encode(), pid=self.pid)

    def _read_slot(self, slot: int) -> tuple[int, tuple[int, ...]]:
        per_cpu = self._bpf[b"stats"][slot]
        calls = sum(v.calls for v in per_cpu)
        hist = tuple(sum(v.hist[b] for v in per_cpu) for b in range(LAT_BUCKETS))
        return calls, hist

    def interval_records(self, interval_s: float) -> list[Record]:
        assert self.pid is not None
        exited = self.target_exited()
        now = time.time()
        out: list[Record] = []
        for entry in self.attached.values():
            calls, hist = self._read_slot(entry.slot)
            last_calls, last_hist = entry.last
            entry.last = (calls, hist)
            delta = [h - (last_hist[i] if last_hist else 0) for i, h in enumerate(hist)]
            buckets = tuple((*log2_bucket_us(i), n) for i, n in enumerate(delta) if n > 0)
            lat = None
            if buckets:
                lat = {
                    "p50": percentile(buckets, 0.5),
                    "p99": percentile(buckets, 0.99),
                    "max_bucket": buckets[-1][1],
                }
            out.append(
                UprobeRecord(
                    now,
                    self.pid,
                    entry.target,
                    entry.path,
                    entry.symbol,
                    interval_s,
                    calls - last_calls,
                    lat,
                    buckets,
                    exited,
                )
            )
        return out
