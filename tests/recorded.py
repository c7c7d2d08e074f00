"""A recorded session (records as the engine emits them) for rendering tests.

Fakes are for rendering only: nothing here claims a probe works.
"""

from __future__ import annotations

from collections.abc import Callable

from bpftop.records import (
    ConnectRecord,
    ExecRecord,
    ProbeCounts,
    ProbeStatus,
    Record,
    SystemSample,
)

T0 = 1_795_000_000.0  # a fixed wall clock: 2026-11-18 ... UTC
SKIPPED = (("fexit:tcp_v4_connect", "unavailable, lockdown=integrity"),)


def recorded_session() -> list[Record]:
    records: list[Record] = [
        ProbeStatus(T0, "exec", "attached", via="tracepoint:syscalls:sys_enter_execve"),
        ProbeStatus(T0, "connect", "attached", via="tracepoint:sock:inet_sock_set_state",
                    skipped=SKIPPED),
        SystemSample(T0 + 9, "web-01", "6.18.44", 93784.0, (2.31, 1.87, 1.02), 37.5, 61.2,
                     1.4, 92.0),
    ]  # fmt: skip
    commands = [
        (("/usr/bin/curl", "-sf", "http://127.0.0.1:8080/healthz"), 0, "curl"),
        (("/bin/sh", "-c", "pg_isready -h db01 -p 5432 -t 2"), 0, "sh"),
        (("/usr/local/bin/backup-agent", "--config", "/etc/backup.yml"), -2, "cron"),
        (("/usr/bin/git", "fetch", "--prune", "origin"), 0, "git"),
        (("/opt/app/bin/worker", "--queue", "emails", "--concurrency", "8"), -13, "supervisord"),
    ]
    for i in range(14):
        argv, ret, comm = commands[i % len(commands)]
        records.append(
            ExecRecord(T0 + i * 0.6, 4100 + i, 880 + i % 3, 1000 if i % 4 else 0, comm, argv,
                       ret, argv[0])
        )  # fmt: skip
    peers = [
        ("10.1.4.20", 5432),
        ("93.184.216.34", 443),
        ("2001:db8::7", 6379),
        ("10.1.4.21", 9200),
    ]
    results = ["established", "established", "refused", "established", "timeout", "reset"]
    for i in range(10):
        addr, port = peers[i % len(peers)]
        family = 6 if ":" in addr else 4
        local = "2001:db8::2" if family == 6 else "10.1.4.2"
        result = results[i % len(results)]
        state = (
            None
            if result == "established"
            else ("ESTABLISHED" if result == "reset" else "SYN_SENT")
        )
        records.append(
            ConnectRecord(T0 + i * 0.8, 7000 + i, "api-server", 1000, "out", family, local,
                          40000 + i, addr, port, 310.0 + 1700.0 * i, result, state)
        )  # fmt: skip
    records.append(
        ConnectRecord(T0 + 8.5, None, None, None, "in", 4, "10.1.4.2", 443, "10.9.0.77", 51234,
                      None, "established")
    )  # fmt: skip
    records.append(
        ProbeCounts(T0 + 9, "exec", 1.0, {"ok": 36, "failed": 6, "unmatched": 0}, lost=0,
                    bpf_ns=210_000)
    )  # fmt: skip
    records.append(
        ProbeCounts(T0 + 9, "connect", 1.0, {"out_established": 48, "out_refused": 2,
                    "out_timeout": 1, "out_aborted": 0, "in_established": 120, "resets": 1},
                    lost=3, bpf_ns=95_000)
    )  # fmt: skip
    return records


class RecordedSource:
    """Plays a recording into the app at once; toggles answer like the engine would."""

    def __init__(self, sink: Callable[[Record], None], records: list[Record]) -> None:
        self._sink = sink
        for record in records:
            sink(record)

    def set_enabled(self, name: str, on: bool) -> None:
        via = {"exec": "tracepoint:syscalls:sys_enter_execve"}.get(name)
        self._sink(ProbeStatus(T0 + 10, name, "attached" if on else "detached", via=via))

    def stop(self) -> None:
        pass
