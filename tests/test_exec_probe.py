"""Real kernel: the exec probe sees exactly the execs a workload makes."""

from __future__ import annotations

import os
import subprocess
import uuid

import pytest

from bpftop.records import ExecRecord, ProbeCounts, ProbeStatus

pytestmark = pytest.mark.bpf
N = 60


def test_exact_successful_execs_with_argv_pid_and_ppid(engine_for) -> None:
    engine, sink = engine_for("exec")
    token = f"bpftop-test-{uuid.uuid4().hex}"
    args = [f"arg{i}" for i in range(25)]  # more than the 20 argv slots
    pids = set()
    for i in range(N):
        proc = subprocess.Popen(["/bin/true", token, str(i), *args])
        pids.add(proc.pid)
        proc.wait()

    def mine() -> list[ExecRecord]:
        return [r for r in sink.of_type(ExecRecord) if token in r.argv]

    assert sink.wait_for(lambda: len(mine()) >= N)
    engine.stop()
    records = mine()
    assert len(records) == N
    assert {r.pid for r in records} == pids
    for r in records:
        assert r.ret == 0 and r.error is None
        assert r.ppid == os.getpid()
        assert r.uid == os.getuid()
        assert r.comm == "true"
        assert r.filename == "/bin/true"
        assert len(r.argv) == 20 and r.argv_truncated
        assert r.argv[:2] == ("/bin/true", token)
        assert list(r.argv[3:]) == args[:17]
    assert sorted(int(r.argv[2]) for r in records) == list(range(N))
    counted = sum(c.counts["ok"] for c in sink.of_type(ProbeCounts) if c.probe == "exec")
    assert counted >= N  # the kernel counted at least ours (the box runs others too)
    assert sum(c.lost for c in sink.of_type(ProbeCounts)) == 0


def test_failed_execs_carry_errno(engine_for) -> None:
    engine, sink = engine_for("exec")
    missing = f"/nonexistent/bpftop-{uuid.uuid4().hex}"
    for _ in range(N):
        with pytest.raises(FileNotFoundError):
            subprocess.run([missing, "x"])
    not_exec = f"/tmp/bpftop-noexec-{uuid.uuid4().hex}"
    with open(not_exec, "w") as f:
        f.write("#!/bin/sh\n")
    try:
        for _ in range(3):
            with pytest.raises(PermissionError):
                subprocess.run([not_exec])
    finally:
        os.unlink(not_exec)

    def failed(path: str) -> list[ExecRecord]:
        return [r for r in sink.of_type(ExecRecord) if r.filename == path]

    assert sink.wait_for(lambda: len(failed(missing)) >= N and len(failed(not_exec)) >= 3)
    engine.stop()
    assert len(failed(missing)) == N
    assert all(r.ret == -2 and r.error == "ENOENT" for r in failed(missing))
    assert all(r.argv == (missing, "x") for r in failed(missing))
    assert len(failed(not_exec)) == 3
    assert all(r.error == "EACCES" for r in failed(not_exec))
    counted = sum(c.counts["failed"] for c in sink.of_type(ProbeCounts) if c.probe == "exec")
    assert counted >= N + 3


def test_status_names_the_attach_point(engine_for) -> None:
    engine, sink = engine_for("exec")
    engine.stop()
    states = [(s.state, s.via) for s in sink.of_type(ProbeStatus)]
    via = "tracepoint:syscalls:sys_enter_execve"
    assert states == [("attaching", via), ("attached", via), ("detached", None)]
