"""A loop device over a file in a temp dir, with direct I/O helpers for exact workloads."""

from __future__ import annotations

import mmap
import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

BLOCK = 4096


@contextmanager
def loop_device(directory: Path, size_mb: int = 16) -> Iterator[str]:
    """Yields "/dev/loopN" (direct I/O to its backing file); detached afterwards."""
    backing = directory / "disk.img"
    with backing.open("wb") as f:
        f.truncate(size_mb * 1024 * 1024)
    dev = subprocess.run(
        ["losetup", "--find", "--show", f"--direct-io={_direct_io(backing)}", str(backing)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    try:
        yield dev
    finally:
        subprocess.run(["losetup", "-d", dev], check=False)


def _direct_io(backing: Path) -> str:
    """ "on" where the backing file's filesystem takes O_DIRECT (tmpfs only since 6.6).
    Either way the loop device receives exactly the test's direct I/O, which is what
    the probe counts; only the loop driver's own reads and writes of the file differ."""
    try:
        os.close(os.open(backing, os.O_RDWR | os.O_DIRECT))
    except OSError:
        return "off"
    return "on"


def direct_io(fd: int, writes: int, reads: int) -> None:
    """Exactly `writes` 4 KiB O_DIRECT writes, then `reads` reads, at distinct offsets
    (distinct, so the block layer has nothing to merge)."""
    buf = mmap.mmap(-1, BLOCK)  # page-aligned, as O_DIRECT needs
    buf.write(b"b" * BLOCK)
    for i in range(writes):
        assert os.pwrite(fd, buf, i * 2 * BLOCK) == BLOCK
    for i in range(reads):
        assert os.preadv(fd, [buf], i * 2 * BLOCK) == BLOCK
    buf.close()
