"""Denials probe cost: a syscall-heavy loop with and without the probe, and a flood
of denied opens (what a crash-looping service does) with bpftop's CPU under it."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil
from paired import ratio_row

from tests.helpers.c_helpers import compile_c
from tests.helpers.denied import NOBODY, workbench

SYSCALLS_C = r"""
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
static double now(void) {
    struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec / 1e9;
}
int main(int argc, char **argv) {  /* getppid as fast as it goes, for argv[1] seconds */
    double secs = atof(argv[1]), start = now(), took = 0;
    long n = 0;
    for (;;) {
        syscall(SYS_getppid);
        if ((++n & 4095) == 0 && (took = now() - start) >= secs) break;
    }
    printf("%ld %.6f\n", n, took);
    return 0;
}
"""
ROUNDS = 7
SECONDS = 2.0
FLOOD = 2_000_000


def _getppid_rate(tool: Path) -> float:
    out = subprocess.run([str(tool), str(SECONDS)], check=True, capture_output=True, text=True)
    n, took = out.stdout.split()
    return int(n) / float(took)


def _dd_rate(_tool: Path) -> float:
    """`dd bs=1`: one read and one write per byte, 2 million syscalls."""
    start = time.monotonic()
    subprocess.run(["dd", "if=/dev/zero", "of=/dev/null", "bs=1", "count=1000000"],
                   check=True, capture_output=True)  # fmt: skip
    return 2_000_000 / (time.monotonic() - start)


class JsonRun:
    """`bpftop --json --probes denials`, its records tallied in the background."""

    def __init__(self, bpftop: list[str], cwd: Path) -> None:
        self.proc = subprocess.Popen(
            [*bpftop, "--json", "--probes", "denials"], stdout=subprocess.PIPE, text=True, cwd=cwd
        )
        self.attached = threading.Event()
        self.tally: dict[str, int] = {"events": 0, "group": 0, "sampled_out": 0, "lost": 0}
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.attached.wait(30)

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            rec = json.loads(line)
            kind = rec["type"]
            if kind == "status" and rec["state"] == "attached":
                self.attached.set()
            elif kind == "denial" and rec["comm"] == "denyloop":
                self.tally["events"] += 1
            elif kind == "denial_group" and rec["comm"] == "denyloop":
                self.tally["group"] += rec["count"]
            elif kind == "counts":
                self.tally["sampled_out"] += rec["counts"]["sampled_out"]
                self.tally["lost"] += rec["lost"]

    def stop(self) -> None:
        time.sleep(1.5)  # one more interval: the last counts
        self.proc.terminate()
        self.proc.wait()
        self._reader.join(5)


def syscall_overhead(
    rows: list[tuple[str, str]], workdir: Path, bpftop: list[str], cwd: Path
) -> None:
    tool = compile_c(workdir, "syscalls", SYSCALLS_C)
    for label, rate in (("getppid() loop", _getppid_rate), ("dd bs=1 (read+write)", _dd_rate)):
        without, with_probe = [], []
        for _ in range(ROUNDS):
            without.append(rate(tool))
            run = JsonRun(bpftop, cwd)
            with_probe.append(rate(tool))
            run.proc.terminate()
            run.proc.wait()
        rows.append(ratio_row(f"{label} syscalls/s, {ROUNDS} rounds", without, with_probe,
                              "denials probe"))  # fmt: skip


def _flood(bench: Any) -> tuple[int, float]:
    start = time.monotonic()
    subprocess.run([str(bench.opener), str(bench.secret), str(FLOOD), str(bench.public), "0"],
                   user=NOBODY, group=NOBODY, extra_groups=[], cwd="/", check=True)  # fmt: skip
    return FLOOD, time.monotonic() - start


def _cpu(pid: int) -> float:
    times = psutil.Process(pid).cpu_times()
    return times.user + times.system


def denial_flood(
    rows: list[tuple[str, str]],
    bpftop: list[str],
    cwd: Path,
    terminal: Callable[[], Any],
) -> None:
    with workbench() as bench:
        run = JsonRun(bpftop, cwd)
        before = _cpu(run.proc.pid)
        made, took = _flood(bench)
        cpu = 100 * (_cpu(run.proc.pid) - before) / took
        run.stop()
        t = run.tally
        rows.append(
            (f"denied-open flood (--json): {made / took:,.0f} denials/s",
             f"kernel counted {t['group']:,}/{made:,} exactly; {t['events']:,} events sent,"
             f" {t['sampled_out']:,} sampled out, {t['lost']:,} lost; bpftop CPU {cpu:.1f}%")
        )  # fmt: skip

        tui = terminal()
        tui.wait_for_text("probes ")
        time.sleep(2)
        before = _cpu(tui.pid)
        flood = threading.Thread(target=_flood, args=(bench,))
        start = time.monotonic()
        flood.start()
        time.sleep(0.5)
        pressed = time.monotonic()
        tui.press(b"p")
        shown = tui.wait_for_text("PAUSED", 10)
        flood.join()
        took = time.monotonic() - start
        cpu = 100 * (_cpu(tui.pid) - before) / took
        tui.stop()
        latency = f"{(shown - pressed) * 1000:.0f} ms" if shown else "never"
        rows.append(
            ("bpftop (TUI) during the denied-open flood",
             f"CPU {cpu:.1f}% of one core; key press to screen {latency}")
        )  # fmt: skip
