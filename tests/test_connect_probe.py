"""Real kernel: the connect probe sees exactly the TCP connections a workload makes."""

from __future__ import annotations

import os
import socket

import pytest

from bpftop.records import ConnectRecord, ProbeCounts

pytestmark = pytest.mark.bpf
N = 40


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
