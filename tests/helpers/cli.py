"""bpftop's command line as a test runs it: one-shot, or streaming --json."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from tests.helpers.timing import SLOWDOWN

BPFTOP = [sys.executable, "-m", "bpftop"]
ROOT = Path(__file__).resolve().parent.parent.parent


def run(
    *args: str, env: dict[str, str] | None = None, prefix: tuple[str, ...] = (), **kw
) -> subprocess.CompletedProcess[str]:
    """bpftop with `args`; `prefix` runs it through another command (setpriv)."""
    return subprocess.run(
        [*prefix, *BPFTOP, *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=ROOT,
        **kw,
    )


def world_can_run_from_here() -> bool:
    """Can uid 65534 reach this checkout and its venv (not so under a 0700 home)?"""
    path = ROOT
    while path != path.parent:
        if not os.stat(path).st_mode & 0o001:
            return False
        path = path.parent
    return True


def start_json(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*BPFTOP, "--json", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=env,
    )


def record(line: str) -> dict[str, Any]:
    """One JSON line of --json; a line that is not one fails with the line itself."""
    try:
        value: dict[str, Any] = json.loads(line)
        return value
    except json.JSONDecodeError as exc:
        raise AssertionError(f"not a JSON line ({exc}): {line!r}") from None


def read_until(
    proc: subprocess.Popen[str], predicate, timeout: float = 30 * SLOWDOWN
) -> list[dict[str, Any]]:
    assert proc.stdout is not None
    lines: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(record(line))
        if predicate(lines):
            return lines
    raise AssertionError(f"gave up waiting; got {lines[-5:]}")


def attached(names: set[str]):
    def check(lines: list[dict[str, Any]]) -> bool:
        got = {r["probe"] for r in lines if r["type"] == "status" and r["state"] == "attached"}
        return names <= got

    return check
