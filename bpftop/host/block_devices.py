"""Names for the kernel dev_t values the block tracepoints carry."""

from __future__ import annotations

from pathlib import Path

MINOR_BITS = 20  # the kernel's dev_t is MAJOR << 20 | MINOR (not the userspace layout)


def split_dev(dev: int) -> tuple[int, int]:
    return dev >> MINOR_BITS, dev & ((1 << MINOR_BITS) - 1)


class BlockDeviceNames:
    """dev_t -> "vda", read from /sys/dev/block once per device and cached.

    A loop device detached and reattached keeps its name, so the cache stays right;
    a dev_t /sys does not know (already gone) is shown as "MAJ:MIN".
    """

    def __init__(self, sysfs: Path = Path("/sys/dev/block")) -> None:
        self._sysfs = sysfs
        self._names: dict[int, str] = {}

    def name(self, dev: int) -> str:
        if dev not in self._names:
            major, minor = split_dev(dev)
            found = self._read_devname(f"{major}:{minor}")
            if found is None:
                return f"{major}:{minor}"  # not cached: /sys may know it next time
            self._names[dev] = found
        return self._names[dev]

    def exists(self, dev: int) -> bool:
        major, minor = split_dev(dev)
        return (self._sysfs / f"{major}:{minor}").exists()

    def _read_devname(self, majmin: str) -> str | None:
        try:
            uevent = (self._sysfs / majmin / "uevent").read_text()
        except OSError:
            return None
        for line in uevent.splitlines():
            if line.startswith("DEVNAME="):
                return line.removeprefix("DEVNAME=")
        return None
