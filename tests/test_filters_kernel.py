"""Real kernel: a filter drops what it does not match before it is counted or sent,
and changing it at run time takes effect at once."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path

import pytest

from bpftop.filters import parse_filter
from bpftop.records import (
    ConnectRecord,
    DenialGroupRecord,
    DenialRecord,
    DiskProcRecord,
    DiskRecord,
    ExecRecord,
    ProbeCounts,
)
from tests.denied import run_as_nobody, workbench
from tests.loopdev import direct_io, loop_device

pytestmark = pytest.mark.bpf


def _counted(sink, probe: str, counter: str) -> int:
    return sum(c.counts.get(counter, 0) for c in sink.of_type(ProbeCounts) if c.probe == probe)


def _settle(sink, probe: str) -> None:
    """Wait for two more counts of `probe`: everything before is in."""
    seen = len([c for c in sink.of_type(ProbeCounts) if c.probe == probe])
    assert sink.wait_for(
        lambda: len([c for c in sink.of_type(ProbeCounts) if c.probe == probe]) >= seen + 2
    )


def test_comm_filter_keeps_an_exec_storm_of_other_comms_out(engine_for) -> None:
    engine, sink = engine_for(
        "exec", interval=0.3, prepare=lambda e: e.set_filter(parse_filter("comm=tru*"))
    )
    for _ in range(60):
        subprocess.run(["/bin/echo", "-n"], check=True)
    for _ in range(13):
        subprocess.run(["/bin/true"], check=True)
    _settle(sink, "exec")
    execs = sink.of_type(ExecRecord)
    assert [r.comm for r in execs] == ["true"] * 13
    assert _counted(sink, "exec", "ok") == 13  # the kernel did not count the echo storm

    engine.set_filter(parse_filter(f"pid={os.getpid()}"))  # this process and its children
    time.sleep(0.3)
    subprocess.run(["/bin/sh", "-c", "/bin/true; /bin/true"], check=True)
    _settle(sink, "exec")
    mine = sink.of_type(ExecRecord)[13:]
    # sh is our child; the two trues are sh's children, not ours.
    assert [(r.comm, r.ppid) for r in mine] == [("sh", os.getpid())]


def test_port_filter_counts_only_that_port(engine_for) -> None:
    servers = [socket.create_server(("127.0.0.1", 0), backlog=16) for _ in range(2)]
    wanted = servers[1].getsockname()[1]
    _engine, sink = engine_for(
        "connect", interval=0.3, prepare=lambda e: e.set_filter(parse_filter(f"port={wanted}"))
    )
    for server, n in zip(servers, (6, 4), strict=True):
        for _ in range(n):
            client = socket.create_connection(server.getsockname(), timeout=5)
            server.accept()[0].close()
            client.close()
    _settle(sink, "connect")
    records = sink.of_type(ConnectRecord)
    assert sorted(r.direction for r in records) == ["in"] * 4 + ["out"] * 4
    assert all(wanted in (r.sport, r.dport) for r in records)
    assert _counted(sink, "connect", "out_established") == 4
    assert _counted(sink, "connect", "in_established") == 4
    for server in servers:
        server.close()


def test_device_and_pid_filter_on_disk(engine_for, tmp_path: Path) -> None:
    with loop_device(tmp_path) as dev:
        name = os.path.basename(dev)
        fd = os.open(dev, os.O_RDWR | os.O_DIRECT)
        try:
            engine, sink = engine_for(
                "disk",
                interval=0.3,
                prepare=lambda e: e.set_filter(parse_filter(f"dev={name} pid={os.getpid()}")),
            )
            direct_io(fd, 9, 4)
            _settle(sink, "disk")
            engine.set_filter(parse_filter(f"dev={name} pid=1"))  # not us: nothing more
            time.sleep(0.3)
            direct_io(fd, 5, 5)
            _settle(sink, "disk")
            engine.stop()
        finally:
            os.close(fd)
    devices = [r for r in sink.of_type(DiskRecord) if r.reads or r.writes]
    assert {r.dev for r in devices} == {name}  # the backing file's disk is filtered out
    assert (sum(r.writes for r in devices), sum(r.reads for r in devices)) == (9, 4)
    procs = [r for r in sink.of_type(DiskProcRecord) if r.reads or r.writes]
    assert {(r.pid, r.dev) for r in procs} == {(os.getpid(), name)}


def test_comm_filter_on_denials(engine_for) -> None:
    with workbench() as bench:
        engine, sink = engine_for(
            "denials", interval=0.3, prepare=lambda e: e.set_filter(parse_filter("comm=nothere"))
        )
        run_as_nobody(bench, 30, 5)
        _settle(sink, "denials")
        assert sink.of_type(DenialRecord) == [] and sink.of_type(DenialGroupRecord) == []
        engine.set_filter(parse_filter("comm=deny* user=nobody"))
        time.sleep(0.3)
        run_as_nobody(bench, 21, 5)
        _settle(sink, "denials")
    assert len(sink.of_type(DenialRecord)) == 21
    assert sum(g.count for g in sink.of_type(DenialGroupRecord)) == 21
    assert _counted(sink, "denials", "denials") == 21
