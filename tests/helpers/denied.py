"""A C helper that opens files as an unprivileged user: exact denied and allowed opens."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.helpers.c_helpers import compile_c

NOBODY = 65534
OPENER_C = r"""
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>
/* denyloop DENIED_PATH N ALLOWED_PATH M: exactly N failed and M successful opens */
int main(int argc, char **argv) {
    long n = atol(argv[2]), m = atol(argv[4]);
    for (long i = 0; i < n; i++) {
        int fd = open(argv[1], O_RDONLY);
        if (fd >= 0) return 2;  /* it was supposed to be denied */
    }
    for (long i = 0; i < m; i++) {
        int fd = open(argv[3], O_RDONLY);
        if (fd < 0) return 3;
        close(fd);
    }
    return 0;
}
"""


@dataclass(frozen=True)
class Workbench:
    opener: Path  # the compiled helper; its comm is "denyloop"
    secret: Path  # root's, mode 0600
    public: Path  # mode 0644


@contextmanager
def workbench(base: Path = Path("/tmp")) -> Iterator[Workbench]:
    """A directory every user may enter, with the helper and the two files."""
    directory = Path(subprocess.check_output(["mktemp", "-d", "-p", str(base)], text=True).strip())
    try:
        directory.chmod(0o755)
        opener = compile_c(directory, "denyloop", OPENER_C)
        secret, public = directory / "secret", directory / "public"
        secret.write_text("root only\n")
        secret.chmod(0o600)
        public.write_text("anyone\n")
        public.chmod(0o644)
        yield Workbench(opener, secret, public)
    finally:
        subprocess.run(["rm", "-rf", str(directory)], check=False)


def run_as_nobody(bench: Workbench, denied: int, allowed: int) -> int:
    """Run the helper as uid/gid 65534; returns its pid after it exited cleanly."""
    proc = subprocess.Popen(
        [str(bench.opener), str(bench.secret), str(denied), str(bench.public), str(allowed)],
        user=NOBODY,
        group=NOBODY,
        extra_groups=[],
        cwd="/",
        env={"PATH": "/usr/bin:/bin"},
    )
    assert proc.wait(60) == 0, "the helper's opens did not go as planned"
    return proc.pid
