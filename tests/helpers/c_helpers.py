"""Build the small C programs the tests and benchmarks run as workloads."""

from __future__ import annotations

import subprocess
from pathlib import Path


def compile_c(directory: Path, name: str, source: str, *flags: str) -> Path:
    """Write `name`.c into `directory` and build `name` with gcc -O2 (its comm is `name`)."""
    (directory / f"{name}.c").write_text(source)
    binary = directory / name
    cmd = ["gcc", "-O2", *flags, "-o", str(binary), str(directory / f"{name}.c")]
    subprocess.run(cmd, check=True)
    return binary
