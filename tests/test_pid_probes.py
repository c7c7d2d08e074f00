"""Real kernel: the drilldown's per-pid probes count exactly what one process does.

A C helper (tests/helpers/callee.py) calls `bpftop_work` and getppid exactly N times on
command; a second copy does the same and must not be counted.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bpftop.core.commands import SetTarget, UprobeAttach, UprobeDetach
from bpftop.core.records import ProbeStatus, SyscallsRecord, UprobeRecord
from bpftop.host.user_binaries import UserCodeError, resolve
from bpftop.probes.uprobe_probe import UPROBE_SLOTS
from tests.helpers.bpftool import (
    UPROBE_EVENTS,
    bpftop_program_ids,
    perf_attachments,
    wait_until_gone,
)
from tests.helpers.callee import callee_binary, callees
from tests.helpers.cli import run

pytestmark = pytest.mark.bpf
ROOT = Path(__file__).resolve().parent.parent
WORK = "bpftop_callee:bpftop_work"


@pytest.fixture(scope="module")
def binary(tmp_path_factory) -> Iterator[Path]:
    with callee_binary(tmp_path_factory.mktemp("callee")) as path:
        yield path


def _pid_probes(engine_for, pid: int, *specs: str):
    def prepare(engine) -> None:
        engine.submit(SetTarget(pid))  # both per-pid probes
        for spec in specs:
            engine.submit(UprobeAttach(spec))

    return engine_for("syscalls", "uprobes", interval=0.3, prepare=prepare)


def attached(sink, name: str) -> bool:
    return any(r.probe == name and r.state == "attached" for r in sink.of_type(ProbeStatus))


def test_uprobe_and_syscall_counts_are_exact_and_only_the_target(engine_for, binary) -> None:
    with callees(binary, 2) as (target, other):
        engine, sink = _pid_probes(engine_for, target.pid, WORK)
        assert attached(sink, "uprobes") and attached(sink, "syscalls"), sink.records
        target.call(4321)
        other.call(999)  # same binary, same function: another process
        target.call(79)

        def work() -> list[UprobeRecord]:
            return [r for r in sink.of_type(UprobeRecord) if r.symbol == "bpftop_work"]

        def getppid_calls() -> int:
            return sum(
                row.calls
                for r in sink.of_type(SyscallsRecord)
                for row in r.rows
                if row.syscall == "getppid"
            )

        assert sink.wait_for(
            lambda: sum(r.calls for r in work()) >= 4400 and getppid_calls() >= 4400
        )
        engine.stop()
        records = work()
        assert sum(r.calls for r in records) == 4400, records
        assert {(r.pid, r.target) for r in records} == {(target.pid, "bpftop_callee")}
        assert sum(count for r in records for _lo, _hi, count in r.hist) == 4400
        assert getppid_calls() == 4400
        rows = [row for r in sink.of_type(SyscallsRecord) for row in r.rows]
        assert all(r.pid == target.pid for r in sink.of_type(SyscallsRecord))
        getppid = [row for row in rows if row.syscall == "getppid"]
        # Timed (a call takes some time, so every interval's total is above zero), no errors.
        assert getppid and all(row.total_us > 0 and not row.errors for row in getppid)


# Kernels without task storage for tracing programs (5.10) keep the call in flight in a
# hash: forced here by hiding the helper.
@pytest.mark.parametrize(
    "hide", [(), ("task_storage_get",)], ids=["as this kernel offers", "calls in a hash"]
)
def test_syscall_counts_are_exact_under_each_step(
    engine_for, kernel_features, binary, hide: tuple[str, ...]
) -> None:
    kernel = dataclasses.replace(kernel_features, helpers=frozenset(
        pair for pair in kernel_features.helpers if pair[1] not in hide))  # fmt: skip
    with callees(binary, 2) as (target, other):
        engine, sink = engine_for(
            "syscalls", interval=0.3, kernel=kernel,
            prepare=lambda e: e.submit(SetTarget(target.pid)),
        )  # fmt: skip
        via = [r.via for r in sink.of_type(ProbeStatus) if r.state == "attached"]
        assert len(via) == 1 and (not hide or via[0].endswith("(calls in a hash)")), via
        target.call(1234)
        other.call(500)  # another process: not counted
        target.call(66)

        def getppid_calls() -> int:
            return sum(row.calls for r in sink.of_type(SyscallsRecord) for row in r.rows
                       if row.syscall == "getppid")  # fmt: skip

        assert sink.wait_for(lambda: getppid_calls() >= 1300)
        engine.stop()
    assert getppid_calls() == 1300


def test_process_exit_detaches_and_keeps_last_data(engine_for, binary) -> None:
    with callees(binary) as (target,):
        before = bpftop_program_ids()
        engine, sink = _pid_probes(engine_for, target.pid, WORK)
        ours = bpftop_program_ids() - before
        # sys_enter + sys_exit, and every enter_N + leave_N slot (loaded by the
        # compiler process; only attached slots run, see the SIGKILL test)
        assert len(ours) == 2 + 2 * UPROBE_SLOTS
        target.call(50)
        target.stop()
        done = lambda: [  # noqa: E731
            r for r in sink.of_type(ProbeStatus) if r.state == "detached" and r.reason
        ]
        assert sink.wait_for(lambda: len(done()) == 2)
        assert {r.reason for r in done()} == {f"process {target.pid} exited"}
        assert sum(r.calls for r in sink.of_type(UprobeRecord)) == 50
        assert any(r.exited for r in sink.of_type(SyscallsRecord))
        assert wait_until_gone(ours) == set()
        assert engine.probes["uprobes"].active is False


def test_refuses_what_the_symbol_table_cannot_place(binary, tmp_path) -> None:
    copy = tmp_path / "bpftop_callee"
    shutil.copy(binary, copy)
    with callees(copy) as (target,):
        mapped, symbol = resolve(target.pid, WORK)
        assert (mapped.label, symbol) == ("bpftop_callee", "bpftop_work")
        with pytest.raises(UserCodeError, match="no function 'nosuch'"):
            resolve(target.pid, "bpftop_callee:nosuch")
        with pytest.raises(UserCodeError, match="libnotthere is not mapped"):
            resolve(target.pid, "libnotthere:f")
        copy.unlink()  # the binary is gone: its symbols no longer describe what runs
        with pytest.raises(UserCodeError, match="deleted or replaced"):
            resolve(target.pid, WORK)
        result = run("--json", "--pid", str(target.pid), "--uprobe", WORK)
        assert result.returncode == 2
        assert result.stderr.count("\n") == 1 and "deleted or replaced" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--probes", "syscalls"], "need --pid PID"),
        (["--uprobe", "c:malloc"], "need --pid PID"),
        (["--pid", str(os.getpid()), "--uprobe", "malloc"], "wants LIB_OR_PATH:SYMBOL"),
        (["--pid", str(os.getpid()), "--uprobe", "c:no_such_function_here"], "no function"),
        (["--pid", "4194300", "--probes", "syscalls"], "no process with pid"),
    ],
)
def test_bad_pid_probe_arguments_are_one_line(args: list[str], message: str) -> None:
    result = run("--json", *args)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and message in result.stderr, result.stderr
    assert result.stdout == ""


def test_sigkill_leaves_no_uprobe_behind(kernel_features, binary) -> None:
    events_before = UPROBE_EVENTS.read_text()
    programs_before = bpftop_program_ids()
    with callees(binary) as (target,):
        proc = subprocess.Popen(
            [sys.executable, "-m", "bpftop", "--json", "--interval", "0.3",
             "--pid", str(target.pid), "--uprobe", WORK, "--probes", "syscalls"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
        )  # fmt: skip
        assert proc.stdout is not None
        for line in proc.stdout:  # the target calls once both probes are attached
            record = json.loads(line)
            if (record["type"], record.get("state"), record.get("probe")) == (
                "status",
                "attached",
                "uprobes",
            ):
                target.call(10)
            if record["type"] == "uprobe" and record["calls"]:
                assert record["calls"] == 10
                break
        ours = bpftop_program_ids() - programs_before
        assert len(ours) == 2 + 2 * UPROBE_SLOTS
        assert perf_attachments(proc.pid) == 4  # sys_enter, sys_exit, the uprobe pair
        assert UPROBE_EVENTS.read_text() == events_before  # fd-based: nothing in tracefs
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        assert wait_until_gone(ours) == set()
        assert perf_attachments(proc.pid) == 0
        assert UPROBE_EVENTS.read_text() == events_before
        target.call(10)  # the target runs on, unprobed


def test_usdt_probe_counts_exactly_and_its_semaphore_is_the_kernels(engine_for, tmp_path) -> None:
    from tests.helpers.callee import usdt_binary

    spec = "usdt:bpftop_usdt:bpftop:tick"
    with usdt_binary(tmp_path) as binary, callees(binary) as (target,):
        assert target.call(100) == 0  # nobody listens: the semaphore is 0, the probe is off
        engine, sink = _pid_probes(engine_for, target.pid, spec)
        assert attached(sink, "uprobes") and not engine.probes["uprobes"].notice
        assert target.call(777) == 777  # the kernel raised the semaphore for our probe
        ticks = lambda: sum(r.calls for r in sink.of_type(UprobeRecord))  # noqa: E731
        assert sink.wait_for(lambda: ticks() >= 777)
        engine.submit(UprobeDetach(spec))
        assert sink.wait_for(lambda: target.call(10) == 0)  # and lowered it on detach
        engine.stop()
        records = sink.of_type(UprobeRecord)
        assert ticks() == 777
        assert {(r.target, r.symbol, r.lat_us) for r in records} == {
            ("bpftop_usdt", "bpftop:tick", None)
        }


def test_sigkill_lowers_the_usdt_semaphore(kernel_features, tmp_path) -> None:
    from tests.helpers.callee import usdt_binary

    with usdt_binary(tmp_path) as binary, callees(binary) as (target,):
        proc = subprocess.Popen(
            [sys.executable, "-m", "bpftop", "--json", "--interval", "0.3",
             "--pid", str(target.pid), "--uprobe", "usdt:bpftop_usdt:bpftop:tick"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
        )  # fmt: skip
        assert proc.stdout is not None
        for line in proc.stdout:
            record = json.loads(line)
            if record["type"] == "status" and record["state"] == "attached":
                break
        assert target.call(50) == 50
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        for _ in range(50):  # the kernel drops the probe when the last fd goes
            if target.call(10) == 0:
                break
        assert target.call(10) == 0
