"""Real kernel: the denials probe sees exactly the denied syscalls a workload makes,
names the refused capability, and stays exact under a flood."""

from __future__ import annotations

import subprocess

import pytest

from bpftop.records import DenialGroupRecord, DenialRecord, ProbeCounts, ProbeStatus
from tests.denied import NOBODY, run_as_nobody, workbench

pytestmark = pytest.mark.bpf
DENIED = 41
ALLOWED = 17


def group_total(sink, comm: str, syscall: str) -> int:
    return sum(
        g.count
        for g in sink.of_type(DenialGroupRecord)
        if g.comm == comm and g.syscall == syscall and g.uid == NOBODY
    )


def test_exact_denied_opens_with_path_errno_pid_and_cause(engine_for) -> None:
    with workbench() as bench:
        engine, sink = engine_for("denials", interval=0.3)
        (status,) = [s for s in sink.of_type(ProbeStatus) if s.state == "attached"]
        assert status.via == "raw_tracepoint:sys_exit + tracepoint:capability:cap_capable"
        pid = run_as_nobody(bench, DENIED, ALLOWED)

        def mine() -> list[DenialRecord]:
            return [r for r in sink.of_type(DenialRecord) if r.pid == pid]

        assert sink.wait_for(lambda: group_total(sink, "denyloop", "openat") >= DENIED)
        assert sink.wait_for(lambda: len(mine()) >= DENIED)
        engine.stop()
    records = mine()
    assert len(records) == DENIED  # the allowed opens made none
    for r in records:
        assert (r.syscall, r.errno, r.path, r.uid, r.comm) == (
            "openat", "EACCES", str(bench.secret), NOBODY, "denyloop",
        )  # fmt: skip
        # The mode check failed and the override capabilities were refused in that call.
        assert r.mechanism == "capability" and "CAP_DAC_OVERRIDE" in (r.detail or "")
    assert group_total(sink, "denyloop", "openat") == DENIED
    assert not [r for r in sink.of_type(DenialRecord) if r.path == str(bench.public)]
    counts = [c for c in sink.of_type(ProbeCounts) if c.probe == "denials"]
    assert sum(c.counts["sampled_out"] + c.lost for c in counts) == 0


def test_binding_port_80_without_the_capability_names_it(engine_for) -> None:
    engine, sink = engine_for("denials", interval=0.3)
    script = "import socket\ntry:\n socket.socket().bind(('127.0.0.1', 80))\nexcept OSError: pass"
    child = subprocess.Popen(["/usr/bin/python3", "-S", "-c", script], user=NOBODY, group=NOBODY,
                             extra_groups=[], cwd="/")  # fmt: skip
    assert child.wait(30) == 0

    def binds() -> list[DenialRecord]:
        return [r for r in sink.of_type(DenialRecord) if r.pid == child.pid and r.syscall == "bind"]

    assert sink.wait_for(lambda: len(binds()) >= 1)
    engine.stop()
    (r,) = binds()
    assert (r.errno, r.addr, r.mechanism, r.detail) == (
        "EACCES", "127.0.0.1:80", "capability", "CAP_NET_BIND_SERVICE",
    )  # fmt: skip


def test_a_flood_is_sampled_but_its_count_stays_exact(engine_for) -> None:
    flood = 200_000
    with workbench() as bench:
        engine, sink = engine_for("denials", interval=0.3)
        pid = run_as_nobody(bench, flood, 0)
        assert sink.wait_for(lambda: group_total(sink, "denyloop", "openat") >= flood)
        engine.stop()
    assert group_total(sink, "denyloop", "openat") == flood  # counted in the kernel
    sent = sum(1 for r in sink.of_type(DenialRecord) if r.pid == pid)
    counts = [c for c in sink.of_type(ProbeCounts) if c.probe == "denials"]
    dropped = sum(c.counts["sampled_out"] + c.lost for c in counts)
    assert 0 < sent < flood  # a per-CPU budget, not one record per denial
    assert sent + dropped >= flood  # every denial was either sent or counted as dropped
