"""What the CPU probe costs the box: a context-switch-heavy loop (two processes on
one CPU bouncing a byte over a pair of pipes, two switches per round trip) and the getppid
loop, each without and with `bpftop --json --probes cpu`, paired round after round.
Sampling costs 99 interrupts per CPU per second; the run-queue tracepoints cost on
every context switch, which is what the pipe loop is made of.

Run alone: sudo .venv/bin/python bench/cpu_cost.py [ROUNDS] (also part of make bench).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from denials import SYSCALLS_C, _getppid_rate  # noqa: E402
from paired import print_rows, ratio_row  # noqa: E402
from peers import Headless  # noqa: E402

from tests.helpers.c_helpers import compile_c  # noqa: E402

ROUNDS = 5
SECONDS = 2.0
BPFTOP = [str(ROOT / ".venv" / "bin" / "bpftop")]
PINGPONG_C = r"""
#define _GNU_SOURCE
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
static double now(void) {
    struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec / 1e9;
}
int main(int argc, char **argv) {  /* round trips over two pipes for argv[1] seconds */
    int ping[2], pong[2];
    char c = 0;
    cpu_set_t one;  /* both ends on one CPU: every round trip is two real switches there */
    CPU_ZERO(&one);
    CPU_SET(0, &one);
    if (pipe(ping) || pipe(pong) || sched_setaffinity(0, sizeof(one), &one)) return 1;
    if (fork() == 0) {
        while (read(ping[0], &c, 1) == 1 && c) write(pong[1], &c, 1);
        _exit(0);
    }
    double secs = atof(argv[1]), start = now(), took = 0;
    long n = 0;
    for (c = 1;; n++) {
        write(ping[1], &c, 1);
        read(pong[0], &c, 1);
        if ((n & 1023) == 0 && (took = now() - start) >= secs) break;
    }
    c = 0;
    write(ping[1], &c, 1);
    printf("%ld %.6f\n", n, took);
    return 0;
}
"""


def _round_trips(tool: Path) -> float:
    out = subprocess.run([str(tool), str(SECONDS)], check=True, capture_output=True, text=True)
    n, took = out.stdout.split()
    return int(n) / float(took)


def cpu_cost(rows: list[tuple[str, str]], workdir: Path, rounds: int = ROUNDS) -> None:
    pingpong = compile_c(workdir, "pingpong", PINGPONG_C)
    getppid = compile_c(workdir, "syscalls", SYSCALLS_C)
    loops = (
        ("pipe ping-pong round trips/s (2 context switches each)", lambda: _round_trips(pingpong)),
        ("getppid() loop calls/s", lambda: _getppid_rate(getppid)),
    )
    for label, measure in loops:
        without, with_probe = [], []
        for round_number in range(rounds):
            print(f"round {round_number + 1}: {label}", file=sys.stderr, flush=True)
            without.append(measure())
            run = Headless(BPFTOP, ROOT, "--probes", "cpu", want=1)
            with_probe.append(measure())
            run.stop(last_counts=False)
        rows.append(ratio_row(f"{label}, {rounds} rounds", without, with_probe, "cpu probe"))


def main() -> int:
    if os.geteuid() != 0:
        print("bench: run as root", file=sys.stderr)
        return 2
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else ROUNDS
    rows: list[tuple[str, str]] = []
    with tempfile.TemporaryDirectory(prefix="bpftop-bench-") as workdir:
        cpu_cost(rows, Path(workdir), rounds)
    print(f"bpftop cpu probe cost, {time.strftime('%Y-%m-%d')}, kernel {os.uname().release}, "
          f"{os.cpu_count()} CPUs")  # fmt: skip
    print_rows(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
