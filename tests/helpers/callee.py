"""A C helper that calls a known function and a known syscall exactly N times,
on command, so uprobe and syscall counts can be checked exactly."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.helpers.c_helpers import compile_c

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

    def call(self, n: int) -> int:
        """Returns the number the helper printed after "done"."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(f"{n}\n")
        self.proc.stdin.flush()
        word, number = self.proc.stdout.readline().split()
        assert word == "done"
        return int(number)

    def stop(self) -> None:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            self.proc.wait(5)


@contextmanager
def callee_binary(directory: Path) -> Iterator[Path]:
    """Compile the helper into `directory` (comm "bpftop_callee")."""
    yield compile_c(directory, "bpftop_callee", CALLEE_C)


@contextmanager
def callees(binary: Path, count: int = 1) -> Iterator[list[Callee]]:
    running = [Callee(binary) for _ in range(count)]
    try:
        yield running
    finally:
        for callee in running:
            callee.stop()


# A USDT probe with a semaphore, written out as <sys/sdt.h> would (it is not installed):
# the nop at 990, a .note.stapsdt entry naming it, and the semaphore in .probes.
USDT_C = r"""
#include <stdio.h>
#include <stdlib.h>

__extension__ unsigned short bpftop_tick_semaphore __attribute__((section(".probes"), used));

static inline void probe_tick(void) {
    __asm__ __volatile__(
        "990: nop\n"
        ".pushsection .note.stapsdt,\"?\",\"note\"\n"
        ".balign 4\n"
        ".4byte 992f-991f, 994f-993f, 3\n"
        "991: .asciz \"stapsdt\"\n"
        "992: .balign 4\n"
        "993: .8byte 990b\n"
        ".8byte _.stapsdt.base\n"
        ".8byte bpftop_tick_semaphore\n"
        ".asciz \"bpftop\"\n"
        ".asciz \"tick\"\n"
        ".asciz \"\"\n"
        "994: .balign 4\n"
        ".popsection\n"
        ".ifndef _.stapsdt.base\n"
        ".pushsection .stapsdt.base,\"aG\",\"progbits\",.stapsdt.base,comdat\n"
        ".weak _.stapsdt.base\n"
        ".hidden _.stapsdt.base\n"
        "_.stapsdt.base: .space 1\n"
        ".size _.stapsdt.base, 1\n"
        ".popsection\n"
        ".endif\n");
}

/* Each line "N": N loop turns; the probe fires only while its semaphore is set, as
 * real USDT users do. Prints "done FIRED": how many turns saw the semaphore set. */
int main(void) {
    char line[64];
    setvbuf(stdout, NULL, _IOLBF, 0);
    printf("ready\n");
    while (fgets(line, sizeof(line), stdin)) {
        long n = atol(line), fired = 0;
        for (long i = 0; i < n; i++) {
            if (bpftop_tick_semaphore) {
                probe_tick();
                fired++;
            }
        }
        printf("done %ld\n", fired);
    }
    return 0;
}
"""


@contextmanager
def usdt_binary(directory: Path) -> Iterator[Path]:
    """Compile the USDT helper into `directory` (comm "bpftop_usdt")."""
    yield compile_c(directory, "bpftop_usdt", USDT_C)
