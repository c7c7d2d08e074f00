"""Failure groups on the real kernel: a storm of successes with a few failures mixed in;
the Execs and TCP panes' groups count each failure exactly, through the same model
path the TUI uses (engine records -> Dashboard)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid

import pytest

from bpftop.catalog import new_dashboard
from bpftop.core.commands import SetFilter
from bpftop.core.filters import Filter
from bpftop.core.records import ConnectRecord, ExecRecord, ProbeCounts
from bpftop.model.connections import ConnectModel
from bpftop.model.dashboard import Dashboard
from bpftop.model.execs import ExecModel

pytestmark = pytest.mark.bpf

OK_EXECS = 150
MISSING = 30
NOT_EXECUTABLE = 7
REFUSED = 25
ESTABLISHED = 40


def dashboard_of(records: list[object]) -> Dashboard:
    board = new_dashboard()
    for record in records:
        board.apply(record)  # type: ignore[arg-type]
    return board


def test_exec_failures_are_grouped_exactly_under_a_storm_of_successes(engine_for, tmp_path) -> None:
    engine, sink = engine_for("exec")
    missing = f"/nonexistent/bpftop-{uuid.uuid4().hex}"
    not_exec = tmp_path / "not-executable"
    not_exec.write_text("#!/bin/sh\n")
    # Interleaved, as in a storm: the failures are a small share of all execs.
    for i in range(OK_EXECS):
        subprocess.run(["/bin/true"], check=True)
        if i % 5 == 0:
            with pytest.raises(FileNotFoundError):
                subprocess.run([missing])
        if i % 20 == 0 and i < 20 * NOT_EXECUTABLE:
            with pytest.raises(PermissionError):
                subprocess.run([str(not_exec)])

    def ours() -> list[ExecRecord]:
        return [r for r in sink.of_type(ExecRecord) if r.filename in (missing, str(not_exec))]

    assert sink.wait_for(lambda: len(ours()) >= MISSING + NOT_EXECUTABLE)
    engine.stop()
    groups = {
        g.key: g for g in dashboard_of(sink.records).model("exec", ExecModel).snapshot().failures
    }
    assert groups[(missing, "ENOENT")].total == MISSING
    assert groups[(str(not_exec), "EACCES")].total == NOT_EXECUTABLE
    assert groups[(missing, "ENOENT")].last.pid != os.getpid()  # the forked child
    assert not any(path == "/bin/true" for path, _errno in groups)
    # Every failure on the box in the meantime is in a group: the groups add up to the
    # kernel's failure count (PATH lookups folded out of both).
    counts = [c for c in sink.of_type(ProbeCounts) if c.probe == "exec"]
    assert sum(c.lost for c in counts) == 0
    assert sum(g.total for g in groups.values()) == sum(c.counts["failed"] for c in counts)


def test_connection_failures_are_grouped_by_peer_and_result(engine_for) -> None:
    engine, sink = engine_for("connect")
    server = socket.create_server(("127.0.0.1", 0))
    open_port = server.getsockname()[1]
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    closed_port = closed.getsockname()[1]
    closed.close()  # nothing listens there now
    for i in range(ESTABLISHED):
        with socket.create_connection(("127.0.0.1", open_port), timeout=5):
            server.accept()[0].close()
        if i < REFUSED:
            with pytest.raises(ConnectionRefusedError):
                socket.create_connection(("127.0.0.1", closed_port), timeout=5)
    server.close()

    def refused() -> list[ConnectRecord]:
        return [r for r in sink.of_type(ConnectRecord) if r.dport == closed_port]

    assert sink.wait_for(lambda: len(refused()) >= REFUSED)
    engine.stop()
    failures = dashboard_of(sink.records).model("connect", ConnectModel).snapshot().failures
    group = next(g for g in failures if g.key == ("out", "127.0.0.1", closed_port, 4, "refused"))
    assert (group.total, group.last.pid) == (REFUSED, os.getpid())
    assert not [g for g in failures if g.key[2] == open_port]  # established: no failure


@pytest.mark.parametrize("started", ["before bpftop", "after bpftop"])
@pytest.mark.parametrize("filtered", [False, True])
def test_inbound_connections_belong_to_the_listeners_owner(engine_for, started, filtered) -> None:
    """Inbound handshakes finish in softirq, with no task; the kernel names the owner of
    the socket that listened (known from /proc at start, or from its listen() call), so
    the drilldown lists them as the listener's, and a pid filter on it keeps them."""
    from bpftop.screens.drilldown import pid_events

    def start_listener() -> tuple[subprocess.Popen[str], int]:
        proc = subprocess.Popen(
            [sys.executable, "-c",
             "import socket, sys\n"
             "s = socket.create_server(('127.0.0.1', 0))\n"
             "print(s.getsockname()[1], flush=True)\n"
             "while True: s.accept()[0].close()\n"],
            stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert proc.stdout is not None
        return proc, int(proc.stdout.readline())

    listener, port = start_listener() if started == "before bpftop" else (None, 0)
    try:
        only_listener = SetFilter(Filter(pid=listener.pid)) if listener else None
        prepare = (lambda e: e.submit(only_listener)) if filtered and only_listener else (
            lambda _e: None)  # fmt: skip
        engine, sink = engine_for("connect", prepare=prepare)
        if listener is None:
            listener, port = start_listener()
            if filtered:
                engine.submit(SetFilter(Filter(pid=listener.pid))).result(timeout=10)
        for _ in range(ESTABLISHED):
            socket.create_connection(("127.0.0.1", port), timeout=5).close()

        def inbound() -> list[ConnectRecord]:
            return [
                r for r in sink.of_type(ConnectRecord) if r.direction == "in" and r.sport == port
            ]

        assert sink.wait_for(lambda: len(inbound()) >= ESTABLISHED)
        time.sleep(0.6)
        engine.stop()
        records = inbound()
        assert len(records) == ESTABLISHED
        assert all((r.pid, r.listener) == (listener.pid, True) for r in records)
        assert all((r.comm or "").startswith("python") for r in records)
        if filtered:  # only the listener's: this process's own connects are filtered out
            assert not [r for r in sink.of_type(ConnectRecord) if r.direction == "out"]
        snapshot = dashboard_of(sink.records).snapshot(0.0)
        mine = [e for e in pid_events(snapshot, listener.pid) if "its listener" in e[2]]
        assert len(mine) == ESTABLISHED
        assert all(str(e[2]).startswith("in 127.0.0.1:") for e in mine)
        assert not [e for e in pid_events(snapshot, os.getpid()) if "listener" in e[2]]
    finally:
        if listener is not None:
            listener.kill()
            listener.wait()
