"""Issue 8's comparisons: what bpftop costs the box under each kind of storm, where it
starts to lose events, and its CPU next to bpftrace counting the same tracepoints.
Each comparison runs side by side, round after round, in one run (see paired.py). The
bytes it writes to a terminal: bench/terminal.py."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import select
import struct
import subprocess
import sys
import termios
import threading
import time
from collections.abc import Callable
from pathlib import Path

import psutil
from paired import print_rows, ratio_row

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the tests' netns helpers

from bpftop.catalog import PROBE_NAMES  # noqa: E402
from tests.helpers.c_helpers import compile_c  # noqa: E402
from tests.helpers.denied import NOBODY, workbench  # noqa: E402
from tests.helpers.netns import veth_pair  # noqa: E402

ROUNDS = 5
TERMINAL_SECONDS = 60

CONNLOOP_C = r"""
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
static double now(void) {
    struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec / 1e9;
}
/* connloop N: N loopback TCP connections (connect, accept, close); prints "N seconds" */
int main(int argc, char **argv) {
    long n = atol(argv[1]);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001)};
    socklen_t len = sizeof(addr);
    int ls = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(ls, (void *)&addr, sizeof(addr)) || listen(ls, 512)) return 1;
    getsockname(ls, (void *)&addr, &len);
    double start = now();
    for (long i = 0; i < n; i++) {
        int c = socket(AF_INET, SOCK_STREAM, 0);
        if (connect(c, (void *)&addr, sizeof(addr))) return 2;
        int a = accept(ls, NULL, NULL);
        close(a);  /* the server closes first: TIME_WAIT stays on its side, ports last */
        close(c);
    }
    printf("%ld %.6f\n", n, now() - start);
    return 0;
}
"""

UDP_C = r"""
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
static double now(void) {
    struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec / 1e9;
}
/* udp send IP PORT SECONDS | udp recv PORT SECONDS: 64-byte datagrams; prints the count */
int main(int argc, char **argv) {
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET};
    char buf[64] = {0};
    long n = 0;
    if (!strcmp(argv[1], "send")) {
        inet_pton(AF_INET, argv[2], &addr.sin_addr);
        addr.sin_port = htons(atoi(argv[3]));
        double end = now() + atof(argv[4]);
        while (now() < end)
            for (int i = 0; i < 64; i++)
                if (sendto(s, buf, sizeof(buf), 0, (void *)&addr, sizeof(addr)) > 0) n++;
    } else {
        int size = 8 << 20;
        setsockopt(s, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
        addr.sin_port = htons(atoi(argv[2]));
        if (bind(s, (void *)&addr, sizeof(addr))) return 1;
        struct timeval tv = {0, 100000};
        setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        double end = now() + atof(argv[3]);
        while (now() < end)
            if (recv(s, buf, sizeof(buf), 0) > 0) n++;
    }
    printf("%ld\n", n);
    return 0;
}
"""

BPFTRACE_EXEC = (
    "tracepoint:syscalls:sys_enter_execve,tracepoint:syscalls:sys_exit_execve,"
    "tracepoint:sched:sched_process_fork { @[probe] = count(); }"
)
BPFTRACE_DENIALS = (
    "tracepoint:raw_syscalls:sys_exit /args->ret == -13 || args->ret == -1/ { @[comm] = count(); }"
    " tracepoint:capability:cap_capable /args->ret != 0/ { @caps = count(); }"
)
BPFTRACE_CONNECT = (
    "tracepoint:sock:inet_sock_set_state,tracepoint:tcp:tcp_receive_reset,"
    "tracepoint:tcp:tcp_retransmit_skb { @[probe] = count(); }"
)


class Headless:
    """`bpftop --json ARGS` with its records tallied in the background."""

    def __init__(
        self,
        bpftop: list[str],
        cwd: Path,
        *args: str,
        want: int = len(PROBE_NAMES),
        mine: Callable[[dict], bool] = lambda _record: False,
        env: dict[str, str] | None = None,
    ) -> None:
        self.proc = subprocess.Popen(
            [*bpftop, "--json", *args], stdout=subprocess.PIPE, text=True, cwd=cwd,
            env={**os.environ, **(env or {})},
        )  # fmt: skip
        self.records: dict[str, int] = {}
        self.counts: dict[str, int] = {}
        self.lost = 0
        self.mine = 0  # records `mine` recognises as the workload's
        self._is_mine = mine
        self._attached = 0
        self._ready = threading.Event()
        self._want = want
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self._ready.wait(60)

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            rec = json.loads(line)
            kind = rec["type"]
            self.records[kind] = self.records.get(kind, 0) + 1
            self.mine += self._is_mine(rec)
            if kind == "status" and rec["state"] in ("attached", "unavailable"):
                self._attached += 1
                if self._attached >= self._want:
                    self._ready.set()
            elif kind == "counts":
                self.lost += rec["lost"]
                for key, value in rec["counts"].items():
                    self.counts[key] = self.counts.get(key, 0) + value

    def cpu_seconds(self) -> float:
        return sum(psutil.Process(self.proc.pid).cpu_times()[:2])

    def stop(self, last_counts: bool = True) -> None:
        if last_counts:
            time.sleep(1.5)  # the last interval's counts
        self.proc.terminate()
        self.proc.wait()
        self._reader.join(5)


def paired(
    rows: list[tuple[str, str]],
    name: str,
    rate: Callable[[], float],
    attach: Callable[[], Headless],
    with_what: str,
) -> None:
    """ROUNDS rounds of (without, with bpftop) of the same workload."""
    without, with_bpftop = [], []
    for _ in range(ROUNDS):
        without.append(rate())
        run = attach()
        with_bpftop.append(rate())
        run.stop()
    rows.append(ratio_row(name, without, with_bpftop, with_what))


def overhead(
    rows: list[tuple[str, str]], workdir: Path, bpftop: list[str], cwd: Path, storm: Path,
    noop: Path,
) -> None:  # fmt: skip
    connloop = compile_c(workdir, "connloop", CONNLOOP_C)

    def exec_rate() -> float:
        start = time.monotonic()
        subprocess.run([str(storm), "3000", str(noop), "x"], check=True)
        return 3000 / (time.monotonic() - start)

    def connect_rate() -> float:
        n, took = subprocess.run([str(connloop), "5000"], check=True, capture_output=True,
                                 text=True).stdout.split()  # fmt: skip
        return int(n) / float(took)

    def all_probes() -> Headless:
        return Headless(bpftop, cwd)

    paired(rows, f"exec storm execs/s, {ROUNDS} rounds", exec_rate, all_probes,
           "bpftop --json (all probes)")  # fmt: skip
    paired(rows, f"loopback TCP connections/s, {ROUNDS} rounds", connect_rate, all_probes,
           "bpftop --json (all probes)")  # fmt: skip
    udp = compile_c(workdir, "udp", UDP_C)
    with veth_pair() as pair:

        def udp_rate() -> float:
            recv = subprocess.Popen([str(udp), "recv", "9999", "3.5"], stdout=subprocess.PIPE,
                                    text=True)  # fmt: skip
            time.sleep(0.2)
            subprocess.run(["ip", "netns", "exec", pair.netns, str(udp), "send", pair.host_ip,
                            "9999", "3"], check=True, capture_output=True)  # fmt: skip
            received = int(recv.communicate()[0])
            return received / 3.0

        def xdp_counter() -> Headless:
            return Headless(bpftop, cwd, "--probes", "xdp", "--xdp-attach", pair.host_if, want=1)

        paired(rows, f"UDP packets/s received over a veth pair, {ROUNDS} rounds", udp_rate,
               xdp_counter, "bpftop's XDP counter on it")  # fmt: skip


def capacity(rows: list[tuple[str, str]], workdir: Path, bpftop: list[str], cwd: Path,
             storm: Path, noop: Path) -> None:  # fmt: skip
    """The fastest storms this box makes (2 processes each), against bpftop --json."""
    connloop = workdir / "connloop"
    run = Headless(bpftop, cwd, "--probes", "exec", want=1,
                   mine=lambda r: r.get("filename") == str(noop))  # fmt: skip
    start = time.monotonic()
    procs = [subprocess.Popen([str(storm), "15000", str(noop), "cap"]) for _ in range(2)]
    for proc in procs:
        proc.wait()
    rate = 30000 / (time.monotonic() - start)
    run.stop()
    rows.append((f"exec capacity: 2-process storm, {rate:,.0f} execs/s",
                 f"{run.mine:,}/30,000 storm execs recorded; kernel counted"
                 f" {run.counts.get('ok', 0):,} box-wide; lost {run.lost}"))  # fmt: skip

    # One process, two, then two against a 4 KiB buffer to overflow on purpose.
    for procs_n, pages in ((1, None), (2, None), (2, 1)):
        env = {"BPFTOP_RINGBUF_PAGES": str(pages)} if pages else None
        run = Headless(bpftop, cwd, "--probes", "connect", want=1, env=env,
                       mine=lambda r: r.get("comm") == "connloop")  # fmt: skip
        start = time.monotonic()
        procs = [subprocess.Popen([str(connloop), "20000"], stdout=subprocess.DEVNULL)
                 for _ in range(procs_n)]  # fmt: skip
        for proc in procs:
            proc.wait()
        made = 20000 * procs_n
        rate = made / (time.monotonic() - start)
        run.stop()
        buffer = "4 KiB ring buffer (forced)" if pages else "2 MiB ring buffer"
        counted = run.counts.get("out_established", 0), run.counts.get("in_established", 0)
        rows.append((f"connect storm, {procs_n} process(es), {rate:,.0f} connections/s, {buffer}",
                     f"{run.mine:,}/{made:,} outbound recorded ({run.records.get('connect', 0):,}"
                     f" connect records in all); kernel counted out {counted[0]:,},"
                     f" in {counted[1]:,}; lost {run.lost:,}"))  # fmt: skip


def _cpu_during(pid: int, work: Callable[[], object]) -> float:
    proc = psutil.Process(pid)
    before, start = sum(proc.cpu_times()[:2]), time.monotonic()
    work()
    return 100 * (sum(proc.cpu_times()[:2]) - before) / (time.monotonic() - start)


def versus_bpftrace(rows: list[tuple[str, str]], workdir: Path, bpftop: list[str], cwd: Path,
                    storm: Path, noop: Path) -> None:  # fmt: skip
    """bpftop's CPU and bpftrace's, each alone on the box, under the same workload.
    bpftrace only counts in the kernel; bpftop also sends each event (argv, addresses)."""
    connloop = workdir / "connloop"
    with workbench() as bench:
        workloads: list[tuple[str, str, str, Callable[[], object]]] = [
            ("idle", "exec", BPFTRACE_EXEC, lambda: time.sleep(5)),
            ("exec storm", "exec", BPFTRACE_EXEC,
             lambda: subprocess.run([str(storm), "10000", str(noop), "vs"], check=True)),
            ("connect storm", "connect", BPFTRACE_CONNECT,
             lambda: subprocess.run([str(connloop), "20000"], check=True,
                                    stdout=subprocess.DEVNULL)),
            ("denied-open flood", "denials", BPFTRACE_DENIALS,
             lambda: subprocess.run([str(bench.opener), str(bench.secret), "300000",
                                     str(bench.public), "0"], user=NOBODY, group=NOBODY,
                                    extra_groups=[], cwd="/", check=True)),
        ]  # fmt: skip
        for label, probe, script, work in workloads:
            run = Headless(bpftop, cwd, "--probes", probe, want=1)
            ours = _cpu_during(run.proc.pid, work)
            run.stop()
            trace = subprocess.Popen(["bpftrace", "-e", script], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)  # fmt: skip
            time.sleep(3)  # bpftrace compiles and attaches
            theirs = _cpu_during(trace.pid, work)
            trace.terminate()
            trace.wait()
            rows.append((f"CPU, {label}: bpftop --json --probes {probe} vs bpftrace counting",
                         f"bpftop {ours:.1f}% · bpftrace {theirs:.1f}% of one core"))  # fmt: skip


class CountingTerminal:
    """A program (bpftop, htop) in a 120x40 pty; its output is counted and thrown away."""

    def __init__(self, argv: list[str], cwd: Path) -> None:
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            os.chdir(cwd)
            os.environ["TERM"] = "xterm-256color"
            os.execvp(argv[0], argv)
        fcntl.ioctl(self.fd, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
        self.bytes = 0
        self._stop = threading.Event()
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self) -> None:
        while not self._stop.is_set():
            if select.select([self.fd], [], [], 0.1)[0]:
                try:
                    self.bytes += len(os.read(self.fd, 65536))
                except OSError:
                    return

    def stop(self) -> None:
        os.write(self.fd, b"q")  # both bpftop and htop quit on q
        os.waitpid(self.pid, 0)
        self._stop.set()
        os.close(self.fd)


def peers(rows: list[tuple[str, str]], workdir: Path, bpftop: list[str], cwd: Path,
          storm: Path, noop: Path) -> None:  # fmt: skip
    overhead(rows, workdir, bpftop, cwd, storm, noop)
    capacity(rows, workdir, bpftop, cwd, storm, noop)
    versus_bpftrace(rows, workdir, bpftop, cwd, storm, noop)


if __name__ == "__main__":  # just these rows: python bench/peers.py
    import tempfile

    from startup import BPFTOP, build_tools

    out: list[tuple[str, str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        storm_bin, noop_bin = build_tools(Path(tmp))
        peers(out, Path(tmp), BPFTOP, ROOT, storm_bin, noop_bin)
    print_rows(out)
