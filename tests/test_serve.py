"""Real kernel: `bpftop --serve` counts exactly, parses as Prometheus text, answers
during start-up and beside stalled clients, and leaves nothing attached when killed."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.helpers.bpftool import (
    BPFTOP_PROGRAMS,
    loaded_programs,
    perf_attachments,
    wait_until_gone,
)
from tests.helpers.cli import BPFTOP, ROOT
from tests.helpers.loopdev import BLOCK, direct_io, loop_device
from tests.helpers.timing import SLOWDOWN, wait_until

pytestmark = pytest.mark.bpf
INTERVAL = "0.2"
CAP_SYS_ADMIN = 21
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]

# Runs as uid 65534 with the system python (stdlib only): after "ready" and a line on
# stdin, N execs of /bin/true, M of a missing file, K connects to a closed port and D
# opens of a file it may not read, each exactly one syscall of its kind.
WORKLOAD = """
import socket, subprocess, sys
ok, failed, refused, denied, port, secret = sys.argv[1:]
print("ready", flush=True)
sys.stdin.readline()
for _ in range(int(ok)):
    subprocess.run(["/bin/true"], check=True)
for _ in range(int(failed)):
    try:
        subprocess.run(["/nonexistent/bpftop-metrics-test"])
    except FileNotFoundError:
        pass
for _ in range(int(refused)):
    s = socket.socket()
    try:
        s.connect(("127.0.0.1", int(port)))
    except ConnectionRefusedError:
        pass
    finally:
        s.close()
for _ in range(int(denied)):
    try:
        open(secret)
    except PermissionError:
        pass
print("done", flush=True)
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def scrape(port: int, timeout: float = 5.0) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=timeout) as reply:
        assert reply.status == 200
        return str(reply.read().decode())


def samples(text: str) -> Samples:
    """Every sample, keyed by name and sorted labels; parsed by prometheus-client's
    own parser, so the output is valid exposition text."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(snap: Samples, name: str, **labels: str) -> float:
    return snap.get((name, tuple(sorted(labels.items()))), 0.0)


def unit_capabilities() -> list[str]:
    """setpriv for the capabilities scripts/bpftop.service leaves bpftop: root with
    only CapabilityBoundingSet, as systemd runs it."""
    unit = (ROOT / "scripts" / "bpftop.service").read_text()
    [line] = [ln for ln in unit.splitlines() if ln.startswith("CapabilityBoundingSet=")]
    caps = line.split("=", 1)[1].split()
    keep = ",".join(f"+{cap.removeprefix('CAP_').lower()}" for cap in caps)
    return ["setpriv", f"--bounding-set=-all,{keep}", "--inh-caps=-all", "--no-new-privs"]


@contextlib.contextmanager
def serving(
    *args: str, prefix: tuple[str, ...] = ()
) -> Iterator[tuple[subprocess.Popen[str], int]]:
    port = free_port()
    proc = subprocess.Popen(
        [*prefix, *BPFTOP, "--serve", f"127.0.0.1:{port}", "--interval", INTERVAL, *args],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        yield proc, port
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(15)
        assert proc.stderr is not None
        proc.stderr.close()


def wait_attached(port: int, probes: tuple[str, ...], timeout: float = 60.0) -> None:
    def attached() -> bool:
        with contextlib.suppress(OSError):
            snap = samples(scrape(port))
            states = {dict(labels)["probe"]: v for (name, labels), v in snap.items()
                      if name == "bpftop_probe_attached"}  # fmt: skip
            return all(states.get(p) == 1 for p in probes)
        return False

    assert wait_until(attached, timeout), f"{probes} not attached in {timeout * SLOWDOWN} s"


def settle(port: int, done: Callable[[Samples], bool], timeout: float = 15.0) -> Samples:
    """Scrape until `done`, then two more intervals so that nothing extra is missed."""
    deadline = time.monotonic() + timeout
    while not done(samples(scrape(port))) and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(3 * float(INTERVAL))
    return samples(scrape(port))


@pytest.mark.parametrize("who", ["root", "the unit's capabilities"])
def test_counters_move_by_exactly_the_workload(tmp_path: Path, who: str) -> None:
    ok, failed, refused, denied = 23, 11, 7, 5
    closed = free_port()  # nothing listens there: every connect is refused
    secret = tmp_path / "secret"  # in a 0700 directory: EACCES for uid 65534
    secret.write_text("x")
    prefix = tuple(unit_capabilities()) if who != "root" else ()
    args = ("--uid", "65534", "--probes", "exec,connect,denials")
    with serving(*args, prefix=prefix) as (proc, port):
        wait_attached(port, ("exec", "connect", "denials"))
        status = Path(f"/proc/{proc.pid}/status").read_text()
        effective = int(next(ln for ln in status.splitlines() if ln.startswith("CapEff:"))[7:], 16)
        assert bool(effective & (1 << CAP_SYS_ADMIN)) == (who == "root")
        helper = subprocess.Popen(
            ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
             "/usr/bin/python3", "-c", WORKLOAD, str(ok), str(failed), str(refused),
             str(denied), str(closed), str(secret)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd="/",
        )  # fmt: skip
        assert helper.stdin and helper.stdout
        assert helper.stdout.readline().strip() == "ready"
        time.sleep(3 * float(INTERVAL))  # the helper's own start is in the counters
        before = samples(scrape(port))
        helper.stdin.write("go\n")
        helper.stdin.flush()
        assert helper.stdout.readline().strip() == "done"
        helper.wait(10)

        def moved(snap: Samples) -> dict[str, float]:
            return {
                "ok": value(snap, "bpftop_execs_total", result="ok")
                - value(before, "bpftop_execs_total", result="ok"),
                "failed": value(snap, "bpftop_execs_total", result="failed")
                - value(before, "bpftop_execs_total", result="failed"),
                "refused": value(snap, "bpftop_tcp_connections_total", direction="out",
                                 result="refused")
                - value(before, "bpftop_tcp_connections_total", direction="out",
                        result="refused"),
                "denied": value(snap, "bpftop_denials_total", syscall="openat", errno="EACCES")
                - value(before, "bpftop_denials_total", syscall="openat", errno="EACCES"),
            }  # fmt: skip

        expected = {"ok": ok, "failed": failed, "refused": refused, "denied": denied}
        after = settle(port, lambda snap: moved(snap) == expected)
    assert moved(after) == expected
    for result in ("established", "timeout", "aborted", "reset"):
        assert value(after, "bpftop_tcp_connections_total", direction="out", result=result) == 0
    assert value(after, "bpftop_lost_events_total", probe="exec") == 0


def test_disk_histogram_counts_every_direct_io(tmp_path: Path) -> None:
    writes, reads = 41, 19
    with loop_device(tmp_path) as dev:
        name = os.path.basename(dev)
        # Open before attaching and kept open: udev reads a device closed after writing.
        fd = os.open(dev, os.O_RDWR | os.O_DIRECT)
        try:
            with serving("--probes", "disk") as (_proc, port):
                wait_attached(port, ("disk",))
                direct_io(fd, writes, reads)

                def count(snap: Samples, op: str) -> float:
                    return value(snap, "bpftop_disk_io_latency_seconds_count", device=name, op=op)

                after = settle(port, lambda s: (count(s, "write"), count(s, "read"))
                               == (writes, reads))  # fmt: skip
        finally:
            os.close(fd)
    assert (count(after, "write"), count(after, "read")) == (writes, reads)
    for op, n in (("write", writes), ("read", reads)):
        assert value(after, "bpftop_disk_ios_total", device=name, op=op) == n
        assert value(after, "bpftop_disk_bytes_total", device=name, op=op) == n * BLOCK
        assert value(after, "bpftop_disk_io_latency_seconds_bucket", device=name, op=op,
                     le="+Inf") == n  # fmt: skip
        # Cumulative buckets never go down, and the sum is a real latency total.
        buckets = sorted(
            (float(dict(labels)["le"]), v) for (metric, labels), v in after.items()
            if metric == "bpftop_disk_io_latency_seconds_bucket"
            and dict(labels)["device"] == name and dict(labels)["op"] == op
        )  # fmt: skip
        assert [v for _le, v in buckets] == sorted(v for _le, v in buckets)
        total = value(after, "bpftop_disk_io_latency_seconds_sum", device=name, op=op)
        assert 0 < total < n * 1.0, total


def test_answers_during_start_up_and_beside_stalled_clients() -> None:
    with serving("--uid", "65534", "--probes", "exec,connect,disk,denials,xdp") as (proc, port):
        first = None
        deadline = time.monotonic() + 30
        while first is None and time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                first = samples(scrape(port))
            time.sleep(0.02)
        assert first is not None, "no answer while starting"
        # The first answer came while probes were still attaching: reported, not an error.
        assert any(
            v == 1
            for (name, labels), v in first.items()
            if name == "bpftop_probe_state" and dict(labels)["state"] == "attaching"
        )
        wait_attached(port, ("exec", "connect", "disk", "denials", "xdp"))

        stalled = []  # connect and never send; send and never read
        for i in range(20):
            s = socket.create_connection(("127.0.0.1", port))
            if i % 2:
                s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            stalled.append(s)
        try:
            before = samples(scrape(port))
            n = 17
            for _ in range(n):
                subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                                "/bin/true"], check=True)  # fmt: skip
            started = time.monotonic()
            after = settle(port, lambda s: value(s, "bpftop_execs_total", result="ok")
                           - value(before, "bpftop_execs_total", result="ok") >= n)  # fmt: skip
            took = time.monotonic() - started
        finally:
            for s in stalled:
                s.close()
        assert proc.poll() is None
    moved = value(after, "bpftop_execs_total", result="ok") - value(
        before, "bpftop_execs_total", result="ok"
    )
    assert moved == n
    assert took < 10


def test_sigkill_leaves_nothing_attached() -> None:
    before = set(loaded_programs())
    with serving() as (proc, port):
        wait_attached(port, ("exec", "connect", "disk", "denials", "xdp", "cpu"))
        ours = {i for i, name in loaded_programs().items()
                if i not in before and name in BPFTOP_PROGRAMS}  # fmt: skip
        assert ours, "no bpftop programs seen while serving"
        assert perf_attachments(proc.pid) > 0
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    assert wait_until_gone(ours) == set()
    assert perf_attachments(proc.pid) == 0


def test_sigterm_exits_zero_with_everything_detached() -> None:
    with serving("--probes", "exec") as (proc, port):
        wait_attached(port, ("exec",))
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0
        assert proc.stderr is not None
        assert "Traceback" not in proc.stderr.read()
    with pytest.raises(OSError):
        scrape(port, timeout=1)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--serve", "nope"], "not ADDR:PORT or PORT"),
        (["--serve", "127.0.0.1:99999"], "port must be 1-65535"),
        (["--serve", "localhost:9469"], "not an IP address"),
        (["--metrics-labels", "comm", "--json"], "--metrics-labels needs --serve"),
        (["--metrics-labels", "pid", "--serve", "9469"], "invalid choice"),
        (["--serve", "9469", "--bundle", "x"], "--bundle or --serve, not both"),
        (["--demo", "--serve", "9469"], "not with --demo: --serve"),
    ],
)
def test_bad_serve_options_are_one_line(args: list[str], message: str) -> None:
    result = subprocess.run([*BPFTOP, *args], capture_output=True, text=True, cwd=ROOT,
                            timeout=30)  # fmt: skip
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert message in result.stderr.strip().splitlines()[-1]


def test_a_taken_port_is_one_line_and_leaves_no_recording(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        recording = tmp_path / "r.jsonl.gz"
        result = subprocess.run(
            [*BPFTOP, "--serve", str(port), "--record", str(recording)],
            capture_output=True, text=True, cwd=ROOT, timeout=30,
        )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.strip() == f"bpftop: --serve 127.0.0.1:{port}: Address already in use"
    assert not recording.exists()


def test_serve_combines_with_json_and_record(tmp_path: Path) -> None:
    recording = tmp_path / "serve.jsonl.gz"
    port = free_port()
    proc = subprocess.Popen(
        [*BPFTOP, "--serve", str(port), "--json", "--record", str(recording), "--probes",
         "exec", "--interval", INTERVAL, "--duration", "3"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        wait_attached(port, ("exec",))
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    lines = [json.loads(line) for line in out.splitlines()]
    assert {"type": "status", "probe": "exec", "state": "attached"}.items() <= lines[1].items()
    assert any(line["type"] == "counts" for line in lines)
    replayed = subprocess.run([*BPFTOP, "--replay", str(recording), "--json"], cwd=ROOT,
                              capture_output=True, text=True, timeout=30)  # fmt: skip
    assert replayed.stdout == out
