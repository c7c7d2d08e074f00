"""A cgroup v2 directory with one below it, for the cgroup filter's real-kernel tests."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from bpftop.core.filters import CGROUP2_MOUNTS


@dataclass(frozen=True)
class CgroupTree:
    name: str  # the outer cgroup's path below the v2 root, as the filter takes it
    outer: Path
    inner: Path  # a child of `outer`

    def run_in(self, cgroup: Path, argv: list[str]) -> None:
        """Run `argv` to its end as a member of `cgroup` (it moves itself in before exec)."""
        procs = cgroup / "cgroup.procs"
        subprocess.run(argv, check=True, preexec_fn=lambda: procs.write_text("0"))


@contextmanager
def cgroup_tree() -> Iterator[CgroupTree]:
    """Two new cgroups under the v2 root, removed afterwards. Where no v2 hierarchy is
    mounted (a bare VM), one is mounted at /sys/fs/cgroup for the test."""
    with ExitStack() as cleanup:
        root = next((m for m in CGROUP2_MOUNTS if (m / "cgroup.controllers").exists()), None)
        if root is None:
            root = CGROUP2_MOUNTS[-1]
            subprocess.run(["mount", "-t", "cgroup2", "none", str(root)], check=True)
            cleanup.callback(subprocess.run, ["umount", str(root)], check=False)
        name = f"bpftop-test-{uuid.uuid4().hex[:8]}"
        outer = root / name
        inner = outer / "inner"
        inner.mkdir(parents=True)
        cleanup.callback(outer.rmdir)
        cleanup.callback(inner.rmdir)
        yield CgroupTree(name, outer, inner)
