"""A C helper that calls a known function and a known syscall exactly N times,
on command, so uprobe and syscall counts can be checked exactly."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

CALLEE_C = r"""
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/syscall.h>

/* noinline + used: one real call per iteration, and a symbol the table places. */
__attribute__((noinline, used)) long bpftop_work(long i) {
    __asm__ volatile("" ::: "memory");
    return i * 3;
}

/* Each line "N" on stdin: bpftop_work N times and getppid N times (raw syscall,
 * never cached by libc), then "done" on stdout. EOF ends it. */
int main(void) {
    char line[64];
    long sink = 0;
    setvbuf(stdout, NULL, _IOLBF, 0);
    printf("ready\n");
    while (fgets(line, sizeof(line), stdin)) {
        long n = atol(line);
        for (long i = 0; i < n; i++) {
            sink += bpftop_work(i);
            syscall(SYS_getppid);
        }
        printf("done %ld\n", sink & 1);
    }
    return 0;
}
"""


class Callee:
    """A running helper; `call(n)` returns once it made the n calls."""

    def __init__(self, binary: Path) -> None:
        self.proc = subprocess.Popen(
            [str(binary)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert self.proc.stdout is not None and self.proc.stdout.readline() == "ready\n"

    @property
    def pid(self) -> int:
        return self.proc.pid

    def call(self, n: int) -> None:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(f"{n}\n")
        self.proc.stdin.flush()
        assert self.proc.stdout.readline().startswith("done")

    def stop(self) -> None:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            self.proc.wait(5)


@contextmanager
def callee_binary(directory: Path) -> Iterator[Path]:
    """Compile the helper into `directory` (comm "bpftop_callee")."""
    source = directory / "callee.c"
    source.write_text(CALLEE_C)
    binary = directory / "bpftop_callee"
    subprocess.run(["gcc", "-O2", "-o", str(binary), str(source)], check=True)
    yield binary


@contextmanager
def callees(binary: Path, count: int = 1) -> Iterator[list[Callee]]:
    running = [Callee(binary) for _ in range(count)]
    try:
        yield running
    finally:
        for callee in running:
            callee.stop()
