"""bpftop benchmark: start-up, memory, and the exec storm it must keep up with.

Run as root with `make bench`. Prints a table; nothing here is part of the tests.
  - time to first frame and to all probes attached, in a real pseudo-terminal (120x40),
    without and with the compile cache
  - peak RSS
  - exec storms from a C vfork+exec loop (1 and 2 processes): records received vs
    execs made, lost counter, and bpftop's CPU (% of one core) during the storm
  - bpftop's idle CPU
  - direct-I/O IOPS with and without the disk probe (bench/disk_iops.py)
  - a syscall loop with and without the denials probe, and a denied-open flood
    with bpftop's CPU and key-press latency under it (bench/denials.py)
  - the drilldown's syscall summary on another process and on its target, and a
    uprobe per call (bench/drilldown.py)
  - exec, loopback TCP and veth UDP rates with and without bpftop, the storms at which
    it loses events, its CPU next to bpftrace's, and terminal bytes next to htop's
    (bench/peers.py)
  - the rewind ring's memory after 10 minutes, a recording's size and cost per record,
    and replay speed (bench/rewind.py)
  - `bpftop --serve` under the soak storm: scrape time and size, RSS, CPU (bench/serve.py)
"""

from __future__ import annotations

import fcntl
import json
import os
import pty
import select
import shutil
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
from pathlib import Path

import psutil
import pyte

ROOT = Path(__file__).resolve().parent.parent
BPFTOP = [sys.executable, "-m", "bpftop"]
sys.path.insert(0, str(ROOT))  # bpftop and tests' helpers, without installing anything
from cpu_cost import cpu_cost  # noqa: E402
from denials import denial_flood, syscall_overhead  # noqa: E402
from disk_iops import disk_overhead  # noqa: E402
from drilldown import drilldown_overhead  # noqa: E402
from paired import print_rows  # noqa: E402
from peers import peers  # noqa: E402
from rewind import history_and_recordings  # noqa: E402
from serve import serve_under_storm  # noqa: E402
from syscall_tax import syscall_tax  # noqa: E402

from bpftop.catalog import PROBE_NAMES  # noqa: E402
from tests.helpers.c_helpers import compile_c  # noqa: E402

ALL_ATTACHED = f"probes {len(PROBE_NAMES)}/{len(PROBE_NAMES)}"  # what the header says

STORM_C = r"""
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>
int main(int argc, char **argv) {
    int n = atoi(argv[1]);
    char *args[] = {argv[2], argv[3], NULL};
    char *env[] = {NULL};
    for (int i = 0; i < n; i++) {
        pid_t pid = vfork();
        if (pid == 0) { execve(argv[2], args, env); _exit(127); }
        waitpid(pid, NULL, 0);
    }
    return 0;
}
"""
NOOP_C = "int main(void) { return 0; }\n"


def build_tools(workdir: Path) -> tuple[Path, Path]:
    return compile_c(workdir, "storm", STORM_C), compile_c(workdir, "noop", NOOP_C, "-static")


class TerminalRun:
    """bpftop's TUI in a pseudo-terminal, with the output read in the background."""

    def __init__(self, cols: int = 120, rows: int = 40) -> None:
        self.start = time.monotonic()
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            os.chdir(ROOT)
            os.environ["TERM"] = "xterm-256color"
            os.execv(sys.executable, [*BPFTOP])
        fcntl.ioctl(self.fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        self.output = bytearray()
        # What the terminal shows: bpftop sends only the cells that change, so a text
        # on screen need not appear whole in the bytes (bpftop/screens/terminal_diff.py).
        self.screen = pyte.Screen(cols, rows)
        self._stream = pyte.ByteStream(self.screen)
        self.seen: dict[str, float] = {}
        self._stop = False
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while not self._stop:
            ready, _, _ = select.select([self.fd], [], [], 0.05)
            if not ready:
                continue
            try:
                chunk = os.read(self.fd, 65536)
            except OSError:
                return
            if not chunk:
                return
            self.output += chunk
            now = time.monotonic() - self.start
            self._stream.feed(chunk)
            text = "\n".join(self.screen.display)
            for marker in ("Execs", ALL_ATTACHED):
                if marker not in self.seen and marker in text:
                    self.seen[marker] = now

    def press(self, keys: bytes) -> None:
        os.write(self.fd, keys)

    def wait_for_text(self, text: str, timeout: float = 30) -> float | None:
        """Monotonic time at which `text` was first seen after this call."""
        start = len(self.output)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text.encode() in self.output[max(0, start - len(text)) :]:
                return time.monotonic()
            time.sleep(0.005)
        return None

    def wait_for(self, marker: str, timeout: float = 30) -> float | None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if marker in self.seen:
                return self.seen[marker]
            time.sleep(0.005)
        return None

    def stop(self) -> None:
        os.write(self.fd, b"q")
        try:
            os.waitpid(self.pid, 0)
        finally:
            self._stop = True
            os.close(self.fd)


def process_cpu_seconds(pid: int) -> float:
    times = psutil.Process(pid).cpu_times()
    return times.user + times.system + times.children_user + times.children_system


def tree_cpu_seconds(pid: int) -> float:
    proc = psutil.Process(pid)
    total = sum(proc.cpu_times()[:2])
    for child in proc.children(recursive=True):
        total += sum(child.cpu_times()[:2])
    return total


def storm(storm_bin: Path, noop: Path, procs: int, per_proc: int, token: str) -> tuple[int, float]:
    start = time.monotonic()
    runs = [subprocess.Popen([storm_bin, str(per_proc), str(noop), token]) for _ in range(procs)]
    for run in runs:
        run.wait()
    return procs * per_proc, time.monotonic() - start


def tree_pss_sampler(pid: int, stop: threading.Event, peak: list[int]) -> None:
    """Peak PSS of bpftop and its compile processes together, sampled every 20 ms:
    what the box pays while the start-up compiles run (PSS, so pages the forked
    compile processes share with bpftop count once)."""
    while not stop.is_set():
        try:
            proc = psutil.Process(pid)
            total = sum(p.memory_full_info().pss for p in [proc, *proc.children()])
        except psutil.Error:
            total = 0
        peak[0] = max(peak[0], total)
        stop.wait(0.02)


def startup(rows: list[tuple[str, str]], cache: Path) -> None:
    """Start-up without and with the compile cache (bpftop/loader/compile_cache.py):
    each cold run starts from an empty cache, the warm runs load what they left."""
    os.environ["BPFTOP_CACHE_DIR"] = str(cache)
    for label, cold in (("no compile cache", True), ("compile cache", False)):
        firsts, attached, rss, settled, tree = [], [], [], [], []
        for _ in range(3):
            if cold:
                shutil.rmtree(cache, ignore_errors=True)
                cache.mkdir(mode=0o700)
            run = TerminalRun()
            stop, peak = threading.Event(), [0]
            sampler = threading.Thread(target=tree_pss_sampler, args=(run.pid, stop, peak))
            sampler.start()
            first = run.wait_for("Execs")
            ready = run.wait_for(ALL_ATTACHED)
            time.sleep(1.5)
            stop.set()
            sampler.join()
            tree.append(peak[0])
            settled.append(psutil.Process(run.pid).memory_info().rss)
            with open(f"/proc/{run.pid}/status") as f:
                hwm = next(int(line.split()[1]) for line in f if line.startswith("VmHWM"))
            rss.append(max(settled[-1], hwm * 1024))
            run.stop()
            firsts.append(first or float("nan"))
            attached.append(ready or float("nan"))
        rows += [
            (f"{label}: time to first frame (TUI, 120x40), median of 3",
             f"{sorted(firsts)[1]:.3f} s"),
            (f"{label}: time to all probes attached, median of 3", f"{sorted(attached)[1]:.3f} s"),
            (f"{label}: peak RSS of bpftop (VmHWM), max of 3", f"{max(rss) / 2**20:.0f} MiB"),
            (f"{label}: RSS of bpftop 1.5 s after attach, max of 3",
             f"{max(settled) / 2**20:.0f} MiB"),
            (f"{label}: peak PSS of bpftop + its compile processes, max of 3",
             f"{max(tree) / 2**20:.0f} MiB"),
        ]  # fmt: skip


def tui_storm_cpu(rows: list[tuple[str, str]], storm_bin: Path, noop: Path) -> None:
    run = TerminalRun()
    run.wait_for(ALL_ATTACHED)
    time.sleep(2)
    before, t0 = process_cpu_seconds(run.pid), time.monotonic()
    time.sleep(5)
    idle = 100 * (process_cpu_seconds(run.pid) - before) / (time.monotonic() - t0)
    rows.append(("bpftop CPU idle (TUI)", f"{idle:.1f} % of one core"))
    for procs in (1, 2):
        before, t0 = process_cpu_seconds(run.pid), time.monotonic()
        made, took = storm(storm_bin, noop, procs, 8000, "tui-storm")
        time.sleep(0.3)
        cpu = 100 * (process_cpu_seconds(run.pid) - before) / (time.monotonic() - t0)
        rows.append(
            (f"bpftop CPU (TUI) during {procs}-process exec storm",
             f"{cpu:.1f} % of one core at {made / took:,.0f} execs/s")
        )  # fmt: skip
    run.stop()


def read_json_storm(
    proc: subprocess.Popen[str], noop: str, seen: dict[str, int], attached: threading.Event
) -> None:
    """Count the storm's exec records, the kernel's exec counts and the lost counter."""
    assert proc.stdout is not None
    for line in proc.stdout:
        rec = json.loads(line)
        if rec["type"] == "status" and rec["state"] == "attached":
            attached.set()
        elif rec["type"] == "exec" and rec["filename"] == noop:
            seen["records"] += 1
        elif rec["type"] == "counts":
            seen["ok"] += rec["counts"]["ok"]
            seen["lost"] += rec["lost"]


def json_storm(rows: list[tuple[str, str]], storm_bin: Path, noop: Path) -> None:
    for procs in (1, 2):
        token = f"bench-{procs}-{time.time_ns()}"
        proc = subprocess.Popen(
            [*BPFTOP, "--json", "--probes", "exec"], stdout=subprocess.PIPE, text=True, cwd=ROOT
        )
        assert proc.stdout is not None
        seen = {"records": 0, "ok": 0, "lost": 0}
        attached = threading.Event()

        reader = threading.Thread(
            target=read_json_storm, args=(proc, str(noop), seen, attached), daemon=True
        )
        reader.start()
        attached.wait(30)
        made, took = storm(storm_bin, noop, procs, 10000, token)
        time.sleep(1.5)
        proc.terminate()
        proc.wait()
        reader.join(5)
        rows.append(
            (f"exec storm {procs} proc (--json): {made / took:,.0f} execs/s",
             f"{seen['records']}/{made} records; kernel counted {seen['ok']} execs box-wide"
             f" (storm + its {procs} launcher(s) + other); lost {seen['lost']}")
        )  # fmt: skip


def main() -> int:
    if os.geteuid() != 0:
        print("bench: run as root (make bench)", file=sys.stderr)
        return 2
    rows: list[tuple[str, str]] = []
    workdir = Path(tempfile.mkdtemp(prefix="bpftop-bench-"))
    try:
        storm_bin, noop = build_tools(workdir)
        startup(rows, workdir / "cache")  # the rest runs with the cache it leaves
        json_storm(rows, storm_bin, noop)
        tui_storm_cpu(rows, storm_bin, noop)
        disk_overhead(rows, workdir, BPFTOP, ROOT)
        syscall_overhead(rows, workdir, BPFTOP, ROOT)
        syscall_tax(rows, workdir)
        cpu_cost(rows, workdir)
        denial_flood(rows, BPFTOP, ROOT, TerminalRun)
        drilldown_overhead(rows, workdir, BPFTOP, ROOT)
        peers(rows, workdir, BPFTOP, ROOT, storm_bin, noop)
        history_and_recordings(rows, workdir)
        serve_under_storm(rows, 60)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"bpftop benchmark, {time.strftime('%Y-%m-%d')}, {os.uname().nodename}, "
          f"kernel {os.uname().release}, {os.cpu_count()} CPUs")  # fmt: skip
    print_rows(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
