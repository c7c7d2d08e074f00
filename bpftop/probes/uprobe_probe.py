"""Calls and latency of user functions picked by the user, in one process
(bpf/uprobes.c): uprobe + uretprobe per function, attached with the target's pid;
and calls of USDT probes (an entry uprobe through perf_uprobe, semaphore and all).

Each probe costs the target a trap per call (uprobe_cost): every interval the probes'
cost is calls/s x that price, and past the budget (2% of one CPU per target by
default) the costliest are detached at once, with a status that says why. Presets
queue their functions and attach them one per interval while the budget allows.

bcc attaches uprobes through perf_event_open with the uprobe PMU: the probes are
fds of this process, so the kernel removes them when bpftop exits or is killed,
and nothing is written to uprobe_events. Only functions a symbol table places,
in a file not replaced since the process started (user_binaries.resolve).
"""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass
from typing import Any

from bpftop.core.histogram import log2_ns_latency
from bpftop.core.records import OVER_BUDGET, ProbeStatus, Record, UprobeRecord
from bpftop.core.uprobe_settings import BUDGET_PCT
from bpftop.core.xdp_rules import ControlArg
from bpftop.host.user_binaries import UserCodeError, host_path, resolve, resolve_usdt
from bpftop.loader.compiler import PROG_TYPE_KPROBE
from bpftop.loader.perf_uprobe import open_uprobe
from bpftop.probes import uprobe_cost
from bpftop.probes.base import PidProbe, PlanStep
from bpftop.probes.deltas import RunningTotals
from bpftop.probes.python_view import TRAPS_PER_CALL, PythonFunctions

UPROBE_SLOTS = 16  # bpf/uprobes.c compiles this many enter_N/leave_N pairs
PYTHON = "python"  # the spec of the Python view (python_view), among the functions
LAT_BUCKETS = 64


@dataclass
class Attached:
    spec: str  # as the user gave it
    target: str
    path: str  # as the process sees it
    open_path: str  # as bpftop opens it, through /proc/PID/root
    symbol: str
    slot: int
    perf_fds: tuple[int, ...] = ()  # a USDT probe's own perf event (bcc keeps the others)
    cost_pct: float = 0.0  # of one CPU, over the last interval

    @property
    def traps_per_call(self) -> int:
        return 1 if self.perf_fds else 2  # USDT: entry only; functions: entry and return

    def close_perf_fds(self) -> None:
        for fd in self.perf_fds:
            os.close(fd)
        self.perf_fds = ()


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
    counter_names = ("unmatched", "lost", "python_uncounted")
    lost_counter = "lost"
    program_type = PROG_TYPE_KPROBE  # the enter_N and leave_N slots, attached on demand
    controls = ("attach", "detach", "clear", "queue", "python")
    settings = ("pid", "budget_pct")
    # Measured once per bpftop process (uprobe_cost): seconds one trap adds to a call.
    trap_cost_s: float | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.wanted: list[str] = []  # specs, kept across stop/start
        self.attached: dict[str, Attached] = {}
        self.python: PythonFunctions | None = None
        self.queued: list[str] = []  # a preset's functions not attached yet
        self.budget_pct = BUDGET_PCT
        self._calibration: tuple[bytes, bytes] = (b"", b"")  # what the measurement probes
        # Per attached spec: (calls, histogram buckets...) at the last read.
        self._slot_totals: RunningTotals[str, tuple[int, ...]] = RunningTotals()

    def configure(self, setting: str, value: float) -> None:
        if setting != "budget_pct":
            super().configure(setting, value)
            return
        if not 0 < value <= 100:
            raise ValueError(f"the uprobe budget is a share of one CPU, 0-100%: {value}")
        self.budget_pct = value

    def on_new_pid(self, pid: int) -> None:
        if pid != self.pid:
            self.wanted, self.queued = [], []  # functions of another process

    def on_started(self) -> None:
        self.attached, self.python = {}, None
        problems = []
        for spec in self.wanted:
            try:
                self._attach(spec)
            except ValueError as exc:
                problems.append(f"{spec}: {exc}")
        self.notice = "; ".join(problems) or None

    def control(self, action: str, arg: ControlArg) -> None:
        if not isinstance(arg, str):
            raise ValueError(f"probe {self.name}: {action} takes a spec, not {arg!r}")
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
            if arg == PYTHON:
                self._detach_python()
        elif action == "clear":
            for spec in list(self.attached):
                self._detach(self.attached.pop(spec))
            self._detach_python()
            self.wanted, self.queued = [], []
        elif action == "python":
            self.control("attach", PYTHON)
        elif action == "queue":  # a preset: one per interval, while the budget allows
            self.queued += [s for s in arg.split("\n") if s and s not in self.wanted]
            self._attach_queued()
        else:
            super().control(action, arg)

    def _free_slot(self) -> int:
        taken = {a.slot for a in self.attached.values()}
        free = [slot for slot in range(UPROBE_SLOTS) if slot not in taken]
        if not free:
            raise ValueError(f"at most {UPROBE_SLOTS} probes at once; detach one first")
        return free[0]

    def _attach_queued(self) -> None:
        """The next queued spec that attaches (one that cannot is a notice)."""
        while self.queued and self.active:
            spec = self.queued.pop(0)
            try:
                self._attach(spec)
            except ValueError as exc:
                self.notice = f"{spec}: {exc}"
                continue
            self.wanted.append(spec)
            return

    def _trap_cost(self) -> float:
        """Seconds per trap, measured the first time it is needed (~0.2 s)."""
        cls = type(self)
        if cls.trap_cost_s is None:
            try:
                pair_s = uprobe_cost.measure(self._attach_calibration, self._detach_calibration)
                cls.trap_cost_s = pair_s / 2
            except ValueError as exc:
                cls.trap_cost_s = uprobe_cost.FALLBACK_S / 2
                self.notice = f"{exc}; costs are estimated at {cls.trap_cost_s * 1e6:g} us a trap"
        return cls.trap_cost_s

    def _attach_calibration(self, pid: int) -> None:
        mapped, symbol = resolve(pid, "c:getppid")
        path, slot = host_path(pid, mapped).encode(), self._free_slot()
        self._calibration = (path, symbol.encode())
        try:
            self._bpf.attach_uprobe(
                name=path, sym=symbol.encode(), fn_name=f"enter_{slot}".encode(), pid=pid
            )
            self._bpf.attach_uretprobe(
                name=path, sym=symbol.encode(), fn_name=f"leave_{slot}".encode(), pid=pid
            )
        except Exception as exc:  # bcc raises bare Exception
            self._detach_calibration(pid)
            raise ValueError(str(exc)) from None

    def _detach_calibration(self, pid: int) -> None:
        path, symbol = self._calibration
        for detach in (self._bpf.detach_uprobe, self._bpf.detach_uretprobe):
            # Not attached (bcc raises bare Exception): the child dies with its probes anyway.
            with contextlib.suppress(Exception):
                detach(name=path, sym=symbol, pid=pid)

    def _attach(self, spec: str) -> None:
        assert self.pid is not None
        self._trap_cost()  # before the target's probes take a slot
        if spec == PYTHON:
            self._attach_python()
            return
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
        # A reused slot keeps its old totals: they are the zero.
        self._slot_totals.baseline({spec: self._read_slot(slot)})
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
        self._slot_totals.baseline({spec: self._read_slot(slot)})
        self.attached[spec] = entry

    def _attach_python(self) -> None:
        assert self.pid is not None
        if self.python is None:
            self.python = PythonFunctions.attach(self._bpf, self.pid)

    def _detach_python(self) -> None:
        if self.python is not None:
            self.python.close()
            self.python = None

    def stop(self) -> None:
        """bcc's cleanup detaches its uprobes; the USDT probes' fds are ours to close."""
        for entry in self.attached.values():
            entry.close_perf_fds()
        self.attached = {}
        self._detach_python()
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

    def _read_slot(self, slot: int) -> tuple[int, ...]:
        """(calls, the latency histogram's buckets...) of a slot, summed over the CPUs."""
        per_cpu = self._bpf[b"stats"][slot]
        calls = sum(v.calls for v in per_cpu)
        return (calls, *(sum(v.hist[b] for v in per_cpu) for b in range(LAT_BUCKETS)))

    def interval_records(self, interval_s: float) -> list[Record]:
        assert self.pid is not None
        exited = self.target_exited()
        now = time.time()
        out: list[Record] = []
        trap_s = self._trap_cost() if self.attached or self.python else 0.0
        if self.python is not None:
            out += self.python.read(self._bpf, self.pid, interval_s, trap_s, exited)
            if self.python.calls_only:
                self.notice = ("Python view: calls only, no latency: python:function__entry "
                               "does not fire here (CPython 3.11 fires it only under a "
                               "tracer); a row's line is the line it returned from")  # fmt: skip
        totals = {spec: self._read_slot(entry.slot) for spec, entry in self.attached.items()}
        deltas = self._slot_totals.deltas(totals)
        for spec, entry in self.attached.items():
            calls, *delta = deltas[spec]
            per_second = calls / interval_s if interval_s > 0 else 0.0
            entry.cost_pct = per_second * entry.traps_per_call * trap_s * 100
            buckets, lat = log2_ns_latency(delta)
            out.append(
                UprobeRecord(
                    now,
                    self.pid,
                    entry.target,
                    entry.path,
                    entry.symbol,
                    interval_s,
                    calls,
                    lat,
                    buckets,
                    exited,
                    round(entry.cost_pct, 3),
                )
            )
        over = self._over_budget(now)
        if over:
            self.queued = []  # a preset stops where the budget is exceeded
        else:
            self._attach_queued()
        return out + over

    def _over_budget(self, now: float) -> list[Record]:
        """Detach the costliest probes until the rest fit the budget; a status each."""
        out: list[Record] = []
        # (spec, what, cost, traps per call): the functions, and the Python view as one
        costs = [(e.spec, f"{e.target}:{e.symbol}", e.cost_pct, e.traps_per_call)
                 for e in self.attached.values()]  # fmt: skip
        if self.python is not None:
            costs.append((PYTHON, "Python functions (python:function__entry/return)",
                          self.python.cost_pct, TRAPS_PER_CALL))  # fmt: skip
        costs.sort(key=lambda c: -c[2])
        total = sum(cost for _spec, _what, cost, _traps in costs)
        trap_s = self.trap_cost_s or 1e-9
        for spec, what, cost, traps in costs:
            if total <= self.budget_pct:
                break
            total -= cost
            reason = (f"over budget: {what} {cost / 100 / (traps * trap_s):,.0f} calls/s x "
                      f"{traps * trap_s * 1e6:.1f} us = {cost:.1f}% of a CPU "
                      f"(budget {self.budget_pct:g}%)")  # fmt: skip
            if spec == PYTHON:
                self._detach_python()
            else:
                self._detach(self.attached.pop(spec))
            self.wanted.remove(spec)
            out.append(ProbeStatus(now, self.name, "detached", reason=reason, code=OVER_BUDGET))
            self.notice = f"detached {reason}"
        return out
