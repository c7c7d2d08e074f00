"""Disk probe overhead: IOPS of a direct-I/O loop with and without `bpftop --probes disk`.

The device is a loop device over a file in /dev/shm, so the I/O path is as short as
it gets and any per-I/O cost of the probe shows. Runs alternate without/with, so
drift on the box hits both sides alike.
"""

from __future__ import annotations

import json
import subprocess
import threading
from pathlib import Path

from paired import ratio_row

from tests.helpers.c_helpers import compile_c

IOPS_C = r"""
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
static double now(void) {
    struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec / 1e9;
}
int main(int argc, char **argv) {
    int fd = open(argv[1], O_RDWR | O_DIRECT);
    double secs = atof(argv[2]), start = now(), took = 0;
    void *buf;
    if (fd < 0 || posix_memalign(&buf, 4096, 4096)) return 1;
    memset(buf, 'x', 4096);
    long n = 0;
    for (;;) {  /* alternate 4 KiB writes and reads over 16 MiB */
        off_t off = (off_t)(n % 4096) * 4096;
        ssize_t r = (n & 1) ? pread(fd, buf, 4096, off) : pwrite(fd, buf, 4096, off);
        if (r != 4096) return 1;
        if ((++n & 255) == 0 && (took = now() - start) >= secs) break;
    }
    printf("%ld %.6f\n", n, took);
    return 0;
}
"""
ROUNDS = 7
SECONDS = 3.0


def _iops(tool: Path, dev: str) -> float:
    out = subprocess.run([str(tool), dev, str(SECONDS)], check=True, capture_output=True, text=True)
    n, took = out.stdout.split()
    return int(n) / float(took)


def _with_probe(bpftop: list[str], cwd: Path, tool: Path, dev: str) -> tuple[float, int, int]:
    """IOPS while bpftop --json --probes disk runs; also the I/Os and BPF ns it counted."""
    proc = subprocess.Popen(
        [*bpftop, "--json", "--probes", "disk"], stdout=subprocess.PIPE, text=True, cwd=cwd
    )
    attached = threading.Event()
    seen = {"ios": 0, "bpf_ns": 0}

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            rec = json.loads(line)
            if rec["type"] == "status" and rec["state"] == "attached":
                attached.set()
            elif rec["type"] == "counts" and rec["bpf_ns"] is not None:  # a sampled interval
                seen["ios"] += rec["counts"]["ios"]
                seen["bpf_ns"] += rec["bpf_ns"]

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    attached.wait(30)
    rate = _iops(tool, dev)
    proc.terminate()
    proc.wait()
    reader.join(5)
    return rate, seen["ios"], seen["bpf_ns"]


def disk_overhead(rows: list[tuple[str, str]], workdir: Path, bpftop: list[str], cwd: Path) -> None:
    tool = compile_c(workdir, "iops", IOPS_C)
    # Worst case: a loop device over tmpfs (~6 us per I/O, so any per-I/O cost shows).
    # Typical: a loop device doing direct I/O to a file on the real disk.
    for label, directory, flags in (
        ("loop on tmpfs", Path("/dev/shm"), []),
        ("loop on disk file", Path("/var/tmp"), ["--direct-io=on"]),
    ):
        _compare(rows, label, tool, directory / f"bpftop-bench-{workdir.name}.img", flags,
                 bpftop, cwd)  # fmt: skip


def _compare(
    rows: list[tuple[str, str]],
    label: str,
    tool: Path,
    backing: Path,
    flags: list[str],
    bpftop: list[str],
    cwd: Path,
) -> None:
    backing.write_bytes(b"\0" * (16 << 20))
    dev = subprocess.run(
        ["losetup", "--find", "--show", *flags, str(backing)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    try:
        without, with_probe, ios, bpf_ns = [], [], 0, 0
        for _ in range(ROUNDS):
            without.append(_iops(tool, dev))
            rate, counted, ns = _with_probe(bpftop, cwd, tool, dev)
            with_probe.append(rate)
            ios += counted
            bpf_ns += ns
    finally:
        subprocess.run(["losetup", "-d", dev], check=False)
        backing.unlink(missing_ok=True)
    name = f"direct-I/O IOPS, {label}, {ROUNDS} rounds x {SECONDS:.0f}s"
    rows.append(ratio_row(name, without, with_probe, "disk probe"))
    rows.append(
        (f"disk probe BPF time per I/O, {label}",
         f"{bpf_ns / max(ios, 1):,.0f} ns ({ios:,} I/Os in the intervals with stats on)")
    )  # fmt: skip


if __name__ == "__main__":  # just this part: python bench/disk_iops.py
    import shutil
    import sys
    import tempfile

    root = Path(__file__).resolve().parent.parent
    found: list[tuple[str, str]] = []
    scratch = Path(tempfile.mkdtemp(prefix="bpftop-bench-"))
    try:
        disk_overhead(found, scratch, [sys.executable, "-m", "bpftop"], root)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    for name, value in found:
        print(f"  {name:<48}  {value}")
