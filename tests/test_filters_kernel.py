"""Real kernel: a filter drops what it does not match before it is counted or sent,
and changing it at run time takes effect at once."""

from __future__ import annotations

import dataclasses
import os
import socket
import subprocess
from pathlib import Path

import pytest

from bpftop.core.commands import SetFilter
from bpftop.core.filters import parse_filter
from bpftop.core.records import (
    ConnectRecord,
    DenialGroupRecord,
    DenialRecord,
    DiskProcRecord,
    DiskRecord,
    ExecRecord,
    ProbeCounts,
)
from tests.helpers.cgroups import cgroup_tree
from tests.helpers.denied import run_as_nobody, workbench
from tests.helpers.loopdev import direct_io, loop_device

pytestmark = pytest.mark.bpf


def _counted(sink, probe: str, counter: str) -> int:
    return sum(c.counts.get(counter, 0) for c in sink.of_type(ProbeCounts) if c.probe == probe)


def test_comm_filter_keeps_an_exec_storm_of_other_comms_out(engine_for) -> None:
    engine, sink = engine_for(
        "exec", interval=0.3, prepare=lambda e: e.submit(SetFilter(parse_filter("comm=tru*")))
    )
    for _ in range(60):
        subprocess.run(["/bin/echo", "-n"], check=True)
    for _ in range(13):
        subprocess.run(["/bin/true"], check=True)
    sink.settle("exec")
    execs = sink.of_type(ExecRecord)
    assert [r.comm for r in execs] == ["true"] * 13
    assert _counted(sink, "exec", "ok") == 13  # the kernel did not count the echo storm

    # This process and its children, from the moment the kernel has it.
    engine.submit(SetFilter(parse_filter(f"pid={os.getpid()}"))).result(timeout=10)
    subprocess.run(["/bin/sh", "-c", "/bin/true; /bin/true"], check=True)
    sink.settle("exec")
    mine = sink.of_type(ExecRecord)[13:]
    # sh is our child; the two trues are sh's children, not ours.
    assert [(r.comm, r.ppid) for r in mine] == [("sh", os.getpid())]


# Kernels before 5.14 do not let tracing programs ask for a cgroup's ancestor: there the
# programs climb the cgroup's parents themselves (bpf/bpftop.h), forced here by hiding it.
@pytest.mark.parametrize(
    "hide",
    [(), ("get_current_ancestor_cgroup_id",)],
    ids=["as this kernel offers", "climbing by hand"],
)
def test_cgroup_filter_counts_the_cgroup_and_those_below_it(
    engine_for, kernel_features, hide: tuple[str, ...]
) -> None:
    kernel = dataclasses.replace(kernel_features, helpers=frozenset(
        pair for pair in kernel_features.helpers if pair[1] not in hide))  # fmt: skip
    assert not hide or "-DNO_ANCESTOR_CGROUP_ID" in kernel.compat_cflags()
    with cgroup_tree() as tree:
        _engine, sink = engine_for(
            "exec", interval=0.3, kernel=kernel,
            prepare=lambda e: e.submit(SetFilter(parse_filter(f"cgroup={tree.name}"))),
        )  # fmt: skip
        for _ in range(4):
            tree.run_in(tree.outer, ["/bin/true", "outer"])
        for _ in range(7):
            tree.run_in(tree.inner, ["/bin/true", "inner"])
        for _ in range(5):
            subprocess.run(["/bin/true", "outside"], check=True)
        sink.settle("exec")
    argvs = sorted(r.argv[1] for r in sink.of_type(ExecRecord))
    assert argvs == ["inner"] * 7 + ["outer"] * 4
    assert _counted(sink, "exec", "ok") == 11


def test_port_filter_counts_only_that_port(engine_for) -> None:
    servers = [socket.create_server(("127.0.0.1", 0), backlog=16) for _ in range(2)]
    wanted = servers[1].getsockname()[1]
    _engine, sink = engine_for(
        "connect",
        interval=0.3,
        prepare=lambda e: e.submit(SetFilter(parse_filter(f"port={wanted}"))),
    )
    for server, n in zip(servers, (6, 4), strict=True):
        for _ in range(n):
            client = socket.create_connection(server.getsockname(), timeout=5)
            server.accept()[0].close()
            client.close()
    sink.settle("connect")
    records = sink.of_type(ConnectRecord)
    assert sorted(r.direction for r in records) == ["in"] * 4 + ["out"] * 4
    assert all(wanted in (r.sport, r.dport) for r in records)
    assert _counted(sink, "connect", "out_established") == 4
    assert _counted(sink, "connect", "in_established") == 4
    for server in servers:
        server.close()


def test_device_and_pid_filter_on_disk(engine_for, tmp_path: Path) -> None:
    with loop_device(tmp_path) as dev, subprocess.Popen(["sleep", "120"]) as idle:
        name = os.path.basename(dev)
        fd = os.open(dev, os.O_RDWR | os.O_DIRECT)
        try:
            engine, sink = engine_for(
                "disk",
                interval=0.3,
                prepare=lambda e: e.submit(
                    SetFilter(parse_filter(f"dev={name} pid={os.getpid()}"))
                ),
            )
            direct_io(fd, 9, 4)
            sink.settle("disk")
            # Not us: nothing more. A sleeping child, not pid 1, which may read the
            # device itself (a VM's init probing the new loop device).
            engine.submit(SetFilter(parse_filter(f"dev={name} pid={idle.pid}"))).result(timeout=10)
            direct_io(fd, 5, 5)
            sink.settle("disk")
            engine.stop()
        finally:
            os.close(fd)
            idle.kill()
    devices = [r for r in sink.of_type(DiskRecord) if r.reads or r.writes]
    assert {r.dev for r in devices} == {name}  # the backing file's disk is filtered out
    assert (sum(r.writes for r in devices), sum(r.reads for r in devices)) == (9, 4)
    procs = [r for r in sink.of_type(DiskProcRecord) if r.reads or r.writes]
    assert {(r.pid, r.dev) for r in procs} == {(os.getpid(), name)}


def test_comm_filter_on_denials(engine_for) -> None:
    with workbench() as bench:
        engine, sink = engine_for(
            "denials",
            interval=0.3,
            prepare=lambda e: e.submit(SetFilter(parse_filter("comm=nothere"))),
        )
        run_as_nobody(bench, 30, 5)
        sink.settle("denials")
        assert sink.of_type(DenialRecord) == [] and sink.of_type(DenialGroupRecord) == []
        engine.submit(SetFilter(parse_filter("comm=deny* user=nobody"))).result(timeout=10)
        run_as_nobody(bench, 21, 5)
        sink.settle("denials")
    assert len(sink.of_type(DenialRecord)) == 21
    assert sum(g.count for g in sink.of_type(DenialGroupRecord)) == 21
    assert _counted(sink, "denials", "denials") == 21


def test_result_and_errno_filters_on_connections_in_the_kernel(engine_for) -> None:
    server = socket.create_server(("127.0.0.1", 0), backlog=16)
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    closed_port = closed.getsockname()[1]
    closed.close()

    def traffic(ok: int, refused: int) -> None:
        for _ in range(ok):
            with socket.create_connection(server.getsockname(), timeout=5):
                server.accept()[0].close()
        for _ in range(refused):
            with pytest.raises(ConnectionRefusedError):
                socket.create_connection(("127.0.0.1", closed_port), timeout=5)

    engine, sink = engine_for(
        "connect",
        interval=0.3,
        prepare=lambda e: e.submit(SetFilter(parse_filter("result=refused"))),
    )
    traffic(ok=7, refused=5)
    sink.settle("connect")
    assert [r.result for r in sink.of_type(ConnectRecord)] == ["refused"] * 5
    assert _counted(sink, "connect", "out_refused") == 5
    assert _counted(sink, "connect", "out_established") == 0  # not even counted
    assert _counted(sink, "connect", "in_established") == 0

    # The same, by its errno.
    engine.submit(SetFilter(parse_filter("errno=ECONNREFUSED"))).result(timeout=10)
    traffic(ok=4, refused=3)
    sink.settle("connect")
    assert [r.result for r in sink.of_type(ConnectRecord)] == ["refused"] * 8

    engine.submit(SetFilter(parse_filter("result=ok"))).result(timeout=10)
    traffic(ok=6, refused=2)
    sink.settle("connect")
    records = sink.of_type(ConnectRecord)[8:]
    assert sorted(r.direction for r in records) == ["in"] * 6 + ["out"] * 6
    assert all(r.result == "established" for r in records)
    server.close()


def test_result_and_errno_filters_on_execs_test_failures_in_the_kernel(
    engine_for, tmp_path
) -> None:
    not_exec = tmp_path / "not-executable"
    not_exec.write_text("#!/bin/sh\n")
    missing = f"/nonexistent/bpftop-{os.getpid()}"

    def execs(ok: int, missing_n: int, denied: int) -> None:
        for _ in range(ok):
            subprocess.run(["/bin/true"], check=True)
        for _ in range(missing_n):
            with pytest.raises(FileNotFoundError):
                subprocess.run([missing])
        for _ in range(denied):
            with pytest.raises(PermissionError):
                subprocess.run([str(not_exec)])

    engine, sink = engine_for(
        "exec", interval=0.3, prepare=lambda e: e.submit(SetFilter(parse_filter("errno=EACCES")))
    )
    execs(ok=5, missing_n=9, denied=4)
    sink.settle("exec")
    failed = [r for r in sink.of_type(ExecRecord) if r.ret < 0]
    assert [r.error for r in failed] == ["EACCES"] * 4  # no ENOENT was sent
    assert _counted(sink, "exec", "failed") == 4
    # Successes are not counted (they still reach the probe, where a PATH lookup's
    # success folds its tries, and are dropped there).
    assert _counted(sink, "exec", "ok") == 0
    assert not any(r.filename == "/bin/true" for r in sink.of_type(ExecRecord))

    engine.submit(SetFilter(parse_filter("result=ok"))).result(timeout=10)
    before = len(sink.of_type(ExecRecord))
    execs(ok=3, missing_n=6, denied=2)
    sink.settle("exec")
    new = sink.of_type(ExecRecord)[before:]
    assert not [r for r in new if r.ret < 0]
    assert len([r for r in new if r.filename == "/bin/true"]) == 3
    assert _counted(sink, "exec", "ok") == 3
    assert _counted(sink, "exec", "failed") == 4  # none of the 8 new failures


def test_errno_filter_on_denials_in_the_kernel(engine_for) -> None:
    with workbench() as bench:
        engine, sink = engine_for(
            "denials",
            interval=0.3,
            prepare=lambda e: e.submit(SetFilter(parse_filter("errno=EPERM"))),
        )
        run_as_nobody(bench, 17, 3)  # EACCES denials
        sink.settle("denials")
        assert sink.of_type(DenialRecord) == []
        assert _counted(sink, "denials", "denials") == 0
        engine.submit(SetFilter(parse_filter("errno=EACCES user=nobody"))).result(timeout=10)
        run_as_nobody(bench, 11, 3)
        sink.settle("denials")
    assert len(sink.of_type(DenialRecord)) == 11
    assert _counted(sink, "denials", "denials") == 11
