"""Disk I/O latency per device and per submitting process (bpf/disk.c).

Everything is counted in the kernel; once per interval this reads the running
totals and turns their change into one record per device and one per process.
Only slow I/Os (above a threshold the user sets) arrive as events.
"""

from __future__ import annotations

import ctypes
import os
import time
from typing import Any

from bpftop.core.histogram import buckets_from_counts, merge, summarize
from bpftop.core.records import DiskOpTotals, DiskProcRecord, DiskRecord, Record, SlowIoRecord
from bpftop.host.block_devices import BlockDeviceNames
from bpftop.probes.base import PlanStep, Probe, c_string
from bpftop.probes.deltas import RunningTotals, Totals

OPS = ("read", "write", "discard", "other")
CFG_SLOW_NS = 0
CFG_EPOCH = 1
BLOCK_TRACEPOINTS = (
    "block:block_rq_issue",
    "block:block_rq_complete",
    "block:block_rq_merge",
    "block:block_rq_requeue",
)

# struct dev_agg fields read as running totals, in this order
DEV_FIELDS = ("ios", "bytes", "errors", "timed", "lat_ns", "split", "queue_ns", "device_ns")


class DiskProbe(Probe):
    name = "disk"
    title = "Disk I/O"
    source = "disk.c"
    plan = (
        PlanStep(
            via="tracepoint:block:block_io_start",
            tracepoints=("block:block_io_start", *BLOCK_TRACEPOINTS),
        ),
        # Before 6.5: the submitting task from block_bio_queue, which every kernel has.
        PlanStep(
            via="tracepoint:block:block_bio_queue",
            tracepoints=(
                "block:block_bio_queue",
                "block:block_bio_backmerge",
                *BLOCK_TRACEPOINTS,
            ),
            cflags=("-DBIO_QUEUE_START",),
        ),
        # The last resort: no hook in the submitting task, latency from insert.
        PlanStep(
            via="tracepoint:block:block_rq_insert (no submitter pids)",
            tracepoints=("block:block_rq_insert", *BLOCK_TRACEPOINTS),
            cflags=("-DNO_IO_START",),
        ),
    )
    counter_names = ("ios", "untimed", "merged", "requeued", "table_full", "collided", "lost")
    lost_counter = "lost"
    settings = ("slow_ms",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._names = BlockDeviceNames()
        self._slow_ns = 0
        self._epoch = 0
        self._dev_totals: RunningTotals[Any, tuple[int, ...]] = RunningTotals()
        self._hist_totals: RunningTotals[Any, tuple[int, ...]] = RunningTotals()
        self._proc_totals: RunningTotals[Any, tuple[int, ...]] = RunningTotals()

    # -- settings ---------------------------------------------------------------------
    def on_started(self) -> None:
        self._epoch = 0
        for totals in (self._dev_totals, self._hist_totals, self._proc_totals):
            totals.clear()
        self._write_config(CFG_SLOW_NS, self._slow_ns)

    def configure(self, setting: str, value: float) -> None:
        if setting != "slow_ms" or value < 0:
            raise ValueError(f"bad disk setting {setting}={value}")
        self._slow_ns = int(value * 1_000_000)
        if self.active:
            self._write_config(CFG_SLOW_NS, self._slow_ns)

    def read_config(self, slot: int) -> int:
        """The value the BPF side reads (tests check that a key press reached it)."""
        return int(self._bpf[b"config"][ctypes.c_int(slot)].value)

    def _write_config(self, slot: int, value: int) -> None:
        self._bpf[b"config"][ctypes.c_int(slot)] = ctypes.c_ulonglong(value)

    # -- per-interval aggregates --------------------------------------------------------
    def interval_records(self, interval_s: float) -> list[Record]:
        if self._bpf is None:
            return []
        ts = time.time()
        table = self._bpf[b"dev_totals"]
        dev_now: Totals = {}
        hist_now: Totals = {}
        for key, per_cpu in table.items():
            dev_now[(key.dev, key.op)] = tuple(
                sum(getattr(cpu, field) for cpu in per_cpu) for field in DEV_FIELDS
            )
            hist = [sum(column) for column in zip(*(cpu.hist for cpu in per_cpu), strict=True)]
            for bucket, count in enumerate(hist):
                if count:
                    hist_now[(key.dev, key.op, bucket)] = (count,)
        # After the totals: every I/O counted above has its max in the old epoch's slot.
        max_ns = self._take_max(table)
        dev_delta = self._dev_totals.growth(dev_now)
        hist_delta = self._hist_totals.growth(hist_now)
        records: list[Record] = []
        for dev in sorted({dev for dev, _op in dev_now}):
            if not self._names.exists(dev) and not any(d == dev for d, _ in dev_delta):
                self._forget_device(table, dev)  # detached (a loop device, a hot-unplug)
                continue
            records.append(self._device_record(ts, interval_s, dev, dev_delta, hist_delta, max_ns))
        records.extend(self._proc_records(ts, interval_s))
        return records

    def _forget_device(self, table: Any, dev: int) -> None:
        for key in [k for k in table if k.dev == dev]:
            del table[key]
        for totals in (self._dev_totals, self._hist_totals):
            for key in [k for k in totals.last if k[0] == dev]:
                totals.forget(key)

    def _take_max(self, table: Any) -> dict[int, int]:
        """Max latency per device over the interval just ended.

        The kernel keeps the max of epoch e in slot e & 1, stamped with e; moving
        to e + 1 leaves slot e & 1 alone until e + 2, so it is read here without
        racing any writer and without anyone resetting it. An I/O completing
        between the totals read and the flip lands in this max but the next
        interval's counts: the max can only err upwards, never hide an I/O.
        """
        ended = self._epoch
        self._epoch += 1
        self._write_config(CFG_EPOCH, self._epoch)
        out: dict[int, int] = {}
        for key, per_cpu in table.items():
            for cpu in per_cpu:
                if cpu.max_epoch[ended & 1] == ended:
                    out[key.dev] = max(out.get(key.dev, 0), cpu.max_ns[ended & 1])
        return out

    def _device_record(
        self,
        ts: float,
        interval_s: float,
        dev: int,
        dev_delta: Totals,
        hist_delta: Totals,
        max_ns: dict[int, int],
    ) -> DiskRecord:
        zero = (0,) * len(DEV_FIELDS)
        per_op = {op: dev_delta.get((dev, index), zero) for index, op in enumerate(OPS)}
        total = {f: sum(v[i] for v in per_op.values()) for i, f in enumerate(DEV_FIELDS)}
        op_counts: dict[int, dict[int, int]] = {index: {} for index in range(len(OPS))}
        for (d, op, b), (count,) in hist_delta.items():
            if d == dev:
                op_counts[op][b] = count
        op_hists = {op: buckets_from_counts(op_counts[index]) for index, op in enumerate(OPS)}
        buckets = merge(*op_hists.values())
        by_op = tuple(
            DiskOpTotals(op, per_op[op][0], per_op[op][1], op_hists[op],
                         per_op[op][DEV_FIELDS.index("lat_ns")] / 1000)
            for op in OPS
            if per_op[op][0]
        )  # fmt: skip
        top = max_ns.get(dev)
        split = total["split"]
        return DiskRecord(
            ts=ts,
            dev=self._names.name(dev),
            interval_s=round(interval_s, 3),
            reads=per_op["read"][0],
            writes=per_op["write"][0],
            read_bytes=per_op["read"][1],
            write_bytes=per_op["write"][1],
            discards=per_op["discard"][0],
            flushes=per_op["other"][0],
            errors=total["errors"],
            untimed=total["ios"] - total["timed"],
            lat_us=summarize(buckets, top / 1000 if top else None) if total["timed"] else None,
            hist=buckets,
            queue_us=round(total["queue_ns"] / split / 1000, 1) if split else None,
            device_us=round(total["device_ns"] / split / 1000, 1) if split else None,
            by_op=by_op,
        )

    def _proc_records(self, ts: float, interval_s: float) -> list[DiskProcRecord]:
        table = self._bpf[b"proc_totals"]
        keys: dict[tuple[int, int, int, bytes], Any] = {}
        now: Totals = {}
        for k, v in table.items():
            key = (k.pid, k.dev, k.op, bytes(k.comm))
            keys[key] = k
            now[key] = (v.ios, v.bytes, v.timed, v.lat_ns, v.slow)
        delta = self._proc_totals.growth(now)
        # Forget processes that are gone and quiet, so the bounded map never fills.
        for key, ctypes_key in keys.items():
            pid = key[0]
            if pid and key not in delta and not os.path.exists(f"/proc/{pid}"):
                del table[ctypes_key]
                self._proc_totals.forget(key)
        grouped: dict[tuple[int, bytes, int], list[int]] = {}
        for (pid, dev, op, comm), (ios, nbytes, timed, lat_ns, slow) in delta.items():
            row = grouped.setdefault((pid, comm, dev), [0, 0, 0, 0, 0, 0, 0])
            if op == 0:
                row[0] += ios
                row[2] += nbytes
            elif op == 1:
                row[1] += ios
                row[3] += nbytes
            row[4] += timed
            row[5] += lat_ns
            row[6] += slow
        return [
            DiskProcRecord(
                ts=ts,
                pid=pid or None,
                comm=c_string(comm) if pid else None,
                dev=self._names.name(dev),
                interval_s=round(interval_s, 3),
                reads=reads,
                writes=writes,
                read_bytes=read_bytes,
                write_bytes=write_bytes,
                avg_lat_us=round(lat_ns / timed / 1000, 1) if timed else None,
                slow=slow,
            )
            for (pid, comm, dev), (
                reads,
                writes,
                read_bytes,
                write_bytes,
                timed,
                lat_ns,
                slow,
            ) in sorted(grouped.items())
            if reads or writes
        ]

    # -- slow I/O events ----------------------------------------------------------------
    def decode(self, event: Any, data: int) -> SlowIoRecord:
        pid = int(event.pid) or None
        return SlowIoRecord(
            ts=self._clock.wall(event.ts_ns),
            dev=self._names.name(int(event.dev)),
            pid=pid,
            comm=c_string(bytes(event.comm)) if pid else None,
            op=OPS[int(event.op)] if int(event.op) < len(OPS) else "other",
            bytes=int(event.bytes),
            sector=int(event.sector),
            lat_us=round(event.lat_ns / 1000, 3),
            queue_us=round(event.queue_ns / 1000, 1) if event.queue_ns else None,
            error=int(event.error),
        )
