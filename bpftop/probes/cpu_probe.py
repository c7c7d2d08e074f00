"""Who uses the CPU (in-kernel sampling) and how long tasks wait for one (bpf/cpu.c).

Once per interval this reads the kernel's running totals: samples per (process,
comm), run-queue waits per (thread, bucket, comm) and the box-wide wait histogram.
Processes alive at this read or the last become one row each, with RSS and state
from psutil; the ones that lived and died between two reads fold into one row per
comm, so a storm of short-lived processes shows as one line with its whole share.
"""

from __future__ import annotations

import ctypes
import os
import time
from typing import Any

import psutil

from bpftop.core.filters import thread_group
from bpftop.core.histogram import buckets_from_counts, merge, percentile
from bpftop.core.records import CpuRecord, Record, RunqRecord
from bpftop.probes.base import PlanStep, Probe, c_string
from bpftop.probes.deltas import RunningTotals, Totals

SAMPLE_HZ = 99  # not 100: off the timer tick, so sampling does not beat with it
SAMPLE_PERIOD_NS = 1_000_000_000 // SAMPLE_HZ
TOP_ROWS = 20  # rows per interval, busiest first
HIST_BUCKETS = 128  # HIST_BUCKETS in bpf/cpu.c
PERF_TYPE_SOFTWARE = 1
PERF_COUNT_SW_CPU_CLOCK = 0
PROG_TYPE_PERF_EVENT = 7  # bcc's BPF.PERF_EVENT
RUNQ_OFF = "-DNO_RUNQ"  # the step without the sched tracepoints
SCHED_TRACEPOINTS = ("sched:sched_wakeup", "sched:sched_wakeup_new", "sched:sched_switch")


class _Alive:
    """Whether /proc has an id, asked once per id per read (a map holds many keys each)."""

    def __init__(self) -> None:
        self._known: dict[int, bool] = {}

    def __call__(self, pid: int) -> bool:
        if pid not in self._known:
            self._known[pid] = os.path.exists(f"/proc/{pid}")
        return self._known[pid]


class CpuProbe(Probe):
    name = "cpu"
    title = "CPU"
    source = "cpu.c"
    plan = (
        PlanStep(
            via=f"perf_event:cpu-clock {SAMPLE_HZ} Hz + tracepoint:sched (run queue)",
            tracepoints=SCHED_TRACEPOINTS,
            prog_type="perf_event",
            needs_ringbuf=False,
        ),
        PlanStep(
            via=f"perf_event:cpu-clock {SAMPLE_HZ} Hz (no run-queue latency)",
            prog_type="perf_event",
            needs_ringbuf=False,
            cflags=(RUNQ_OFF,),
        ),
    )
    counter_names = ("samples", "idle", "filtered", "waits", "table_full")
    lost_counter = "table_full"
    streams_events = False
    program_type = PROG_TYPE_PERF_EVENT  # on_cpu_sample has no attach prefix

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._sample_totals: RunningTotals[Any, tuple[int, ...]] = RunningTotals()
        self._wait_totals: RunningTotals[Any, tuple[int, ...]] = RunningTotals()
        self._box_totals: RunningTotals[Any, tuple[int, ...]] = RunningTotals()
        self._tgids: dict[int, int] = {}  # thread id -> process id, while the thread lives
        self._seen_alive: set[int] = set()  # processes alive at the last read

    def load(self, step: PlanStep) -> Any:
        bpf = super().load(step)
        try:
            bpf.attach_perf_event(
                ev_type=PERF_TYPE_SOFTWARE,
                ev_config=PERF_COUNT_SW_CPU_CLOCK,
                fn_name=b"on_cpu_sample",
                sample_period=SAMPLE_PERIOD_NS,
                cpu=-1,  # one event per online CPU, each an fd: gone when bpftop goes
            )
        except Exception:
            bpf.cleanup()
            raise
        return bpf

    def on_started(self) -> None:
        for totals in (self._sample_totals, self._wait_totals, self._box_totals):
            totals.clear()
        self._tgids = {}
        self._seen_alive = set()

    def interval_records(self, interval_s: float) -> list[Record]:
        if self._bpf is None or interval_s <= 0:
            return []
        ts = time.time()
        alive = _Alive()
        samples = self._samples_by_row(alive)
        waits = self._waits_by_row(alive) if self._runq else {}
        records: list[Record] = []
        if self._runq:
            records.append(self._runq_record(ts, interval_s))
        busiest = sorted(samples.items(), key=lambda item: -item[1][0])[:TOP_ROWS]
        for (pid, comm), (count, procs) in busiest:
            records.append(self._cpu_record(ts, interval_s, pid, comm, count, procs, waits))
        return records

    @property
    def _runq(self) -> bool:
        """The step measures run-queue waits (the sched tracepoints are there)."""
        return self.step is not None and RUNQ_OFF not in self.step.cflags

    def _samples_by_row(self, alive: _Alive) -> dict[tuple[int | None, str], tuple[int, int]]:
        """Samples of the interval per row: (pid, comm) of a live process, (None, comm)
        for the exited ones; with how many processes each row covers."""
        table = self._bpf[b"samples"]
        keys: dict[tuple[int, bytes], Any] = {}
        now: Totals = {}
        for k, v in table.items():
            key = (int(k.tgid), bytes(k.comm))
            keys[key] = k
            now[key] = (int(v.value),)
        delta = self._sample_totals.growth(now)
        per_pid: dict[int, dict[str, int]] = {}  # live process -> its comms' samples
        exited: dict[str, dict[int, int]] = {}  # comm -> exited process -> samples
        seen_alive, self._seen_alive = self._seen_alive, {tgid for tgid, _comm in now}
        for (tgid, raw_comm), (count,) in delta.items():
            comm = c_string(raw_comm)
            # A process that was alive at the last read keeps its own row in the interval
            # it exits in; one that lived and died between two reads folds into its comm.
            if tgid in seen_alive or alive(tgid):
                per_pid.setdefault(tgid, {})[comm] = count
            else:
                exited.setdefault(comm, {})[tgid] = count
        rows: dict[tuple[int | None, str], tuple[int, int]] = {}
        for tgid, comms in per_pid.items():
            # One row per process, whatever its threads are called, under the comm seen
            # most (the record takes the process's own name from psutil if it can).
            rows[(tgid, max(comms, key=lambda c: comms[c]))] = (sum(comms.values()), 1)
        for comm, pids in exited.items():
            rows[(None, comm)] = (sum(pids.values()), len(pids))
        # A gone process gets no more samples: its entries go, so the map never fills.
        for key, ctypes_key in keys.items():
            if not alive(key[0]):
                del table[ctypes_key]
                self._sample_totals.forget(key)
                self._seen_alive.discard(key[0])
        return rows

    def _waits_by_row(self, alive: _Alive) -> dict[int | str, dict[int, int]]:
        """Run-queue waits of the interval, {bucket: count}, per process (live threads,
        under their tgid) and per comm (threads that exited, under their comm)."""
        table = self._bpf[b"thread_waits"]
        keys: dict[tuple[int, int, bytes], Any] = {}
        now: Totals = {}
        for k, v in table.items():
            key = (int(k.tid), int(k.bucket), bytes(k.comm))
            keys[key] = k
            now[key] = (int(v.value),)
        delta = self._wait_totals.growth(now)
        out: dict[int | str, dict[int, int]] = {}
        for (tid, bucket, comm), (count,) in delta.items():
            row = self._tgid(tid) or c_string(comm)
            hist = out.setdefault(row, {})
            hist[bucket] = hist.get(bucket, 0) + count
        for key, ctypes_key in keys.items():
            if not alive(key[0]):
                del table[ctypes_key]
                self._wait_totals.forget(key)
                self._tgids.pop(key[0], None)
        return out

    def _tgid(self, tid: int) -> int | None:
        if tid not in self._tgids:
            tgid = thread_group(tid)  # /proc/TID is there for threads too
            if tgid is None:
                return None
            self._tgids[tid] = tgid
        return self._tgids[tid]

    def _runq_record(self, ts: float, interval_s: float) -> RunqRecord:
        table = self._bpf[b"box_waits"]
        now: Totals = {i: (int(sum(table[ctypes.c_int(i)])),) for i in range(HIST_BUCKETS)}
        delta = self._box_totals.growth(now)
        hist = buckets_from_counts({index: count for index, (count,) in delta.items()})
        waited = bool(hist)
        return RunqRecord(
            ts=ts,
            interval_s=interval_s,
            hist=hist,
            p50_us=round(percentile(hist, 0.50), 1) if waited else None,
            p99_us=round(percentile(hist, 0.99), 1) if waited else None,
        )

    def _cpu_record(
        self,
        ts: float,
        interval_s: float,
        pid: int | None,
        comm: str,
        count: int,
        procs: int,
        waits: dict[int | str, dict[int, int]],
    ) -> CpuRecord:
        rss: int | None = None
        state: str | None = None
        # A share is whole samples over a measured interval, so it can come out a
        # sample (~1%) above what its threads could use: never show more than that.
        most = 100.0 * (os.cpu_count() or 1)
        if pid is not None:
            try:
                process = psutil.Process(pid)
                with process.oneshot():
                    comm = process.name()
                    rss = process.memory_info().rss
                    state = process.status()
                    most = min(most, 100.0 * process.num_threads())
            except psutil.Error:
                state = "exited"  # its samples and sampled comm still stand
        hist = buckets_from_counts(waits.get(pid if pid is not None else comm, {}))
        return CpuRecord(
            ts=ts,
            interval_s=interval_s,
            pid=pid,
            comm=comm,
            cpu_pct=round(min(most, 100.0 * count * SAMPLE_PERIOD_NS / 1e9 / interval_s), 1),
            runq_p99_us=round(percentile(merge(hist), 0.99), 1) if hist else None,
            rss_bytes=rss,
            state=state,
            procs=procs,
        )
