"""Real kernel, the whole command: one `bpftop --json` run with every default probe
counts a known workload exactly: execs and failed execs, established and refused
connections, denied opens of a uid-65534 helper, direct I/O on a loop device with its
submitting pid, packets a foreign XDP program drops, and a spinner's CPU time. It is
also the smoke check `.ci/run` runs inside each kernel of the matrix (scripts/kernel-vm)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bpftop.catalog import PROBE_NAMES
from bpftop.host.kernel import HELPERS
from tests.helpers.denied import NOBODY, run_as_nobody, workbench
from tests.helpers.loopdev import BLOCK, direct_io, loop_device
from tests.helpers.netns import foreign_xdp_drop, send_udp, veth_pair
from tests.helpers.timing import wait_until

pytestmark = pytest.mark.bpf
ROOT = Path(__file__).resolve().parent.parent
EXECS, FAILED, ESTABLISHED, REFUSED, DENIED, WRITES, READS, DROPPED = 20, 10, 7, 5, 9, 13, 6, 31
SPIN = "import time\nwhile time.process_time() < 1.5: pass"  # 1.5 s of its own CPU
# Emulated kernels (the matrix's VMs) compile each probe in ~4-12 s, and twice that with
# four VMs sharing two CPUs (`make test-kernels`): six probes took over 300 s there.
ATTACH_TIMEOUT = 100.0  # seconds, stretched by SLOWDOWN in wait_until


def cpu_seconds_of(proc: subprocess.Popen[bytes]) -> float:
    """The CPU time the kernel accounted to a child, once it has exited."""
    _pid, _status, usage = os.wait4(proc.pid, 0)
    proc.returncode = 0
    return usage.ru_utime + usage.ru_stime


class JsonRun:
    """`bpftop --json` with its records collected by a reader thread."""

    def __init__(self, env: dict[str, str]) -> None:
        self.records: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bpftop", "--json", "--interval", "0.5"],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env={**os.environ, **env},
        )  # fmt: skip
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._lock:
                self.records.append(json.loads(line))

    def of(self, kind: str, **match: Any) -> list[dict[str, Any]]:
        with self._lock:
            return [r for r in self.records if r["type"] == kind
                    and all(r.get(k) == v for k, v in match.items())]  # fmt: skip

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 60) -> bool:
        return wait_until(predicate, timeout, give_up=lambda: self.proc.poll() is not None)


# The second run hides the helpers that kernels before 5.15 lack, so the fallbacks
# compiled in there (bpf/bpftop.h) count exactly here too; the kernel matrix runs the
# first only (`-k "not fallbacks"`): on 5.10 it is the fallbacks' run.
@pytest.mark.parametrize(
    "hide_helpers", ["", ",".join(HELPERS)], ids=["kernel's helpers", "helper fallbacks"]
)
def test_every_probe_counts_exactly_in_one_headless_run(tmp_path: Path, hide_helpers: str) -> None:
    token = f"bpftop-smoke-{uuid.uuid4().hex[:12]}"
    with (
        workbench() as bench,
        loop_device(tmp_path) as dev,
        veth_pair() as pair,
        foreign_xdp_drop(pair.host_ifindex),
    ):
        disk = os.path.basename(dev)
        fd = os.open(dev, os.O_RDWR | os.O_DIRECT)  # before attaching: see test_disk_probe
        env = {"BPFTOP_HIDE_HELPERS": hide_helpers}
        if hide_helpers:  # the fallbacks are what runs
            check = subprocess.run([sys.executable, "-m", "bpftop", "--check", "--json"],
                                   cwd=ROOT, env={**os.environ, **env}, capture_output=True,
                                   text=True, check=True)  # fmt: skip
            fallbacks = json.loads(check.stdout)["helper_fallbacks"]
            assert fallbacks == ["NO_TASK_PT_REGS", "NO_ANCESTOR_CGROUP_ID"]
        run = JsonRun(env)
        try:
            attached = lambda: {r["probe"] for r in run.of("status", state="attached")}  # noqa: E731
            assert run.wait_for(lambda: attached() >= set(PROBE_NAMES), ATTACH_TIMEOUT), run.of(
                "status"
            )
            time.sleep(1.5)  # the XDP counters' first interval is the baseline

            for i in range(EXECS):
                subprocess.run(["/bin/true", token, str(i)], check=True)
            for _ in range(FAILED):
                with pytest.raises(FileNotFoundError):
                    subprocess.run([f"/nonexistent/{token}"])
            server = socket.create_server(("127.0.0.1", 0))
            port = server.getsockname()[1]
            for _ in range(ESTABLISHED):
                socket.create_connection(("127.0.0.1", port)).close()
                server.accept()[0].close()
            server.close()  # the port is closed now: every connect is refused
            for _ in range(REFUSED):
                with pytest.raises(ConnectionRefusedError):
                    socket.create_connection(("127.0.0.1", port))
            denier = run_as_nobody(bench, DENIED, 3)
            direct_io(fd, WRITES, READS)
            send_udp(pair, DROPPED)
            spinner = subprocess.Popen([sys.executable, "-c", SPIN])
            spun_s = cpu_seconds_of(spinner)

            def execs() -> list[dict[str, Any]]:
                return [r for r in run.of("exec") if token in " ".join([r["filename"], *r["argv"]])]

            def connects(result: str) -> list[dict[str, Any]]:
                return run.of("connect", dport=port, direction="out", result=result)

            def denials() -> list[dict[str, Any]]:
                return run.of("denial", pid=denier)

            def disk_total(field: str) -> int:
                return sum(r[field] for r in run.of("disk", dev=disk))

            def submitted(field: str) -> int:
                return sum(r[field] for r in run.of("disk_proc", dev=disk, pid=os.getpid()))

            def drops() -> int:
                driver = run.of("xdp", ifname=pair.host_if, source="driver")
                return sum(r["actions"]["drop"] or 0 for r in driver)

            def spinner_cpu_s() -> float:
                return float(sum(r["cpu_pct"] / 100 * r["interval_s"]
                                 for r in run.of("cpu", pid=spinner.pid)))  # fmt: skip

            def observed() -> dict[str, int]:
                return {
                    "execs ok": sum(r["ret"] == 0 for r in execs()),
                    "execs failed": sum(r.get("error") == "ENOENT" for r in execs()),
                    "established": len(connects("established")),
                    "refused": len(connects("refused")),
                    "denied": len(denials()),
                    "denied (group)": sum(g["count"] for g in run.of(
                        "denial_group", comm="denyloop", uid=NOBODY, syscall="openat")),
                    "writes": disk_total("writes"),
                    "reads": disk_total("reads"),
                    "bytes": disk_total("write_bytes") + disk_total("read_bytes"),
                    "writes by this pid": submitted("writes"),
                    "reads by this pid": submitted("reads"),
                    "xdp drops": drops(),
                    "spinner's CPU within 15%": abs(spinner_cpu_s() - spun_s) <= 0.15 * spun_s,
                }  # fmt: skip

            expected = {
                "execs ok": EXECS, "execs failed": FAILED, "established": ESTABLISHED,
                "refused": REFUSED, "denied": DENIED, "denied (group)": DENIED,
                "writes": WRITES, "reads": READS, "bytes": (WRITES + READS) * BLOCK,
                "writes by this pid": WRITES,
                "reads by this pid": READS, "xdp drops": DROPPED,
                "spinner's CPU within 15%": True,
            }  # fmt: skip
            run.wait_for(lambda: observed() == expected)
            time.sleep(1.5)  # three more intervals: nothing extra arrives
        finally:
            os.close(fd)
            run.proc.send_signal(signal.SIGTERM)
            run.proc.wait(60)
    assert observed() == expected
    assert run.proc.returncode == 0
    assert run.proc.stderr is not None
    assert "Traceback" not in run.proc.stderr.read()
    lost = {r["probe"]: r["lost"] for r in run.of("counts") if r["lost"]}
    assert lost == {}
