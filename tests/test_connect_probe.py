"""Real kernel: the connect probe sees exactly the TCP connections a workload makes."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from bpftop.core.records import ConnectRecord, ProbeCounts, ProbeStatus
from bpftop.probes.connect_probe import ConnectProbe

pytestmark = pytest.mark.bpf
N = 40
ROOT = Path(__file__).resolve().parent.parent


def _listener(family: int, host: str) -> socket.socket:
    server = socket.socket(family, socket.SOCK_STREAM)
    server.bind((host, 0))
    server.listen(N + 8)
    return server


def _connect_n(family: int, host: str, port: int, server: socket.socket) -> None:
    for _ in range(N):
        client = socket.create_connection((host, port), timeout=5)
        accepted, _addr = server.accept()
        client.close()
        accepted.close()


@pytest.mark.parametrize(
    ("family", "host", "version"),
    [(socket.AF_INET, "127.0.0.1", 4), (socket.AF_INET6, "::1", 6)],
)
def test_exact_outbound_and_inbound(engine_for, family: int, host: str, version: int) -> None:
    engine, sink = engine_for("connect")
    server = _listener(family, host)
    port = server.getsockname()[1]
    _connect_n(family, host, port, server)
    server.close()

    def outbound() -> list[ConnectRecord]:
        return [r for r in sink.of_type(ConnectRecord) if r.direction == "out" and r.dport == port]

    def inbound() -> list[ConnectRecord]:
        return [r for r in sink.of_type(ConnectRecord) if r.direction == "in" and r.sport == port]

    assert sink.wait_for(lambda: len(outbound()) >= N and len(inbound()) >= N)
    engine.stop()
    out, inc = outbound(), inbound()
    assert len(out) == N and len(inc) == N
    for r in out:
        assert (r.pid, r.result, r.family, r.daddr) == (os.getpid(), "established", version, host)
        assert r.comm and r.uid == os.getuid()
        assert r.latency_us is not None and r.latency_us > 0
    # The server side completes in softirq: it is named after the owner of the socket
    # that listened (this process, seen calling listen()), and marked so.
    assert all((r.pid, r.listener, r.result) == (os.getpid(), True, "established") for r in inc)
    assert all(not r.listener for r in out)
    assert {r.dport for r in inc} == {r.sport for r in out}
    counted = sum(c.counts["out_established"] for c in sink.of_type(ProbeCounts))
    assert counted >= N


def test_exact_refused(engine_for) -> None:
    engine, sink = engine_for("connect")
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()  # nothing listens on this port now
    for _ in range(N):
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=5)

    def refused() -> list[ConnectRecord]:
        return [r for r in sink.of_type(ConnectRecord) if r.dport == port]

    assert sink.wait_for(lambda: len(refused()) >= N)
    engine.stop()
    records = refused()
    assert len(records) == N
    assert all(
        (r.result, r.state, r.pid, r.direction) == ("refused", "SYN_SENT", os.getpid(), "out")
        for r in records
    )
    assert sum(c.counts["out_refused"] for c in sink.of_type(ProbeCounts)) >= N


def test_reset_of_established_connection_names_owner(engine_for) -> None:
    engine, sink = engine_for("connect")
    server = _listener(socket.AF_INET, "127.0.0.1")
    port = server.getsockname()[1]
    client = socket.create_connection(("127.0.0.1", port))
    accepted, _ = server.accept()
    # SO_LINGER 0 makes close() send RST to the client.
    accepted.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    accepted.close()

    def resets() -> list[ConnectRecord]:
        return [r for r in sink.of_type(ConnectRecord) if r.result == "reset" and r.dport == port]

    assert sink.wait_for(lambda: len(resets()) >= 1)
    client.close()
    server.close()
    engine.stop()
    [reset] = resets()
    assert (reset.pid, reset.direction, reset.state) == (os.getpid(), "out", "ESTABLISHED")


def test_connects_that_fail_at_once_carry_their_errno(
    engine_for, kernel_features, monkeypatch
) -> None:
    """connect() failing at once never reaches the state tracepoint (no route) or
    reaches it only as a close (no local port left). With each step this kernel
    offers, forced in turn: by fexit or kretprobes (6.1, 6.12) each is an "error" with
    its errno, exactly; with the tracepoint alone (the only step on the dev machine's
    6.18) the port exhaustion shows as aborted and the rest is not seen."""
    steps = [s for s in ConnectProbe.plan if s.unavailable_reason(kernel_features) is None]
    tracepoint_only = ConnectProbe.plan[-1]
    assert steps[-1] is tracepoint_only
    for step in steps:
        monkeypatch.setattr(ConnectProbe, "plan", (step,))
        check_connect_errors(engine_for, sees_errors=step is not tracepoint_only)


def check_connect_errors(engine_for, sees_errors: bool) -> None:
    unreachable, no_port = 7, 5
    engine, sink = engine_for("connect")
    run = subprocess.run(
        [sys.executable, "-m", "tests.helpers.connect_errors", str(unreachable), str(no_port)],
        capture_output=True, text=True, timeout=60, cwd=ROOT, check=True,
    )  # fmt: skip
    pid, port = map(int, run.stdout.split())

    def of(result: str, dport: int) -> list[ConnectRecord]:
        return [r for r in sink.of_type(ConnectRecord)
                if r.result == result and r.dport == dport and r.pid == pid]  # fmt: skip

    if sees_errors:
        assert sink.wait_for(lambda: len(of("error", 81)) + len(of("error", port)) >= 12)
    else:
        assert sink.wait_for(lambda: len(of("aborted", port)) >= no_port)
    start = len(sink.records)
    assert sink.wait_for(lambda: any(isinstance(r, ProbeCounts) for r in sink.records[start:]))
    engine.stop()
    counted = sum(c.counts.get("out_error", 0) for c in sink.of_type(ProbeCounts))
    errors = [r for r in sink.of_type(ConnectRecord) if r.result == "error"]
    if not sees_errors:
        assert len(of("aborted", port)) == no_port and of("aborted", 81) == []
        assert errors == [] and counted == 0
        return
    unreached, exhausted = of("error", 81), of("error", port)
    assert len(unreached) == unreachable and len(exhausted) == no_port
    assert {(r.errno, r.daddr, r.state) for r in unreached} == {
        ("ENETUNREACH", "10.9.9.9", "CLOSE")
    }
    assert {(r.errno, r.daddr, r.state) for r in exhausted} == {
        ("EADDRNOTAVAIL", "127.0.0.1", "SYN_SENT")
    }
    assert {r.direction for r in unreached + exhausted} == {"out"}
    assert of("aborted", port) == []  # the close inside connect() is not counted twice
    assert counted == len(errors)  # the kernel's count: every error event, none lost


def test_the_subtitle_says_why_connect_errors_are_unseen(engine_for, kernel_features) -> None:
    """Where neither fexit nor kprobes load (the dev machine), the skipped steps say why."""
    engine, sink = engine_for("connect")
    engine.stop()
    (status,) = [s for s in sink.of_type(ProbeStatus) if s.state == "attached"]
    offered = [s for s in ConnectProbe.plan if s.unavailable_reason(kernel_features) is None]
    assert status.via == offered[0].via
    skipped = dict(status.skipped)
    for step in ConnectProbe.plan[: ConnectProbe.plan.index(offered[0])]:
        assert skipped[step.via] == step.unavailable_reason(kernel_features)
