"""Compiles in child processes (bpftop/loader/compiler.py): what a user sees when a
compile dies or bpftop is killed while its start-up compiles run."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import psutil
import pytest

from bpftop.loader.compiler import CHILD_NAME
from tests.helpers.bpftool import bpftop_program_ids, wait_until_gone
from tests.helpers.cli import attached, read_until, start_json

pytestmark = pytest.mark.bpf


@pytest.fixture(autouse=True)
def no_compile_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests are about compiles: none of them may come from the cache."""
    monkeypatch.setenv("BPFTOP_CACHE_DIR", "")


def compile_children(proc: subprocess.Popen[str], timeout: float = 30) -> list[psutil.Process]:
    """bpftop's compile processes, once the first one shows up."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        children = [
            c for c in psutil.Process(proc.pid).children() if c.name() == CHILD_NAME.decode()
        ]
        if children:
            return children
        time.sleep(0.005)
    raise AssertionError("no compile process appeared")


def test_sigkill_during_the_startup_compiles_leaves_no_program_and_no_process(
    kernel_features,
) -> None:
    before = bpftop_program_ids()
    proc = start_json()
    children = compile_children(proc)
    proc.kill()
    proc.wait(timeout=10)
    _, alive = psutil.wait_procs(children, timeout=10)
    assert alive == []
    assert wait_until_gone(bpftop_program_ids() - before) == set()


def test_a_dead_compile_costs_one_attach_and_bpftop_runs_on(kernel_features) -> None:
    proc = start_json()
    first = min(compile_children(proc), key=lambda c: c.pid)  # the exec probe's
    first.kill()
    lines = read_until(proc, attached({"exec", "connect", "disk", "denials", "xdp"}), 120)
    died = [
        (r["probe"], why)
        for r in lines
        if r["type"] == "status"
        for why in [*(r.get("skipped") or {}).values(), r.get("reason") or ""]
        if "compiler process died (SIGKILL)" in why
    ]
    # the exec probe's first step failed, its next one attached, and nothing else
    # noticed (both the "attaching" and the "attached" status say why)
    assert {probe for probe, _ in died} == {"exec"}, died
    read_until(proc, lambda got: any(r["type"] == "counts" for r in got))
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0
    assert all(json.loads(line)["type"] for line in out.splitlines())


def test_bpftops_own_process_never_maps_the_compiler(kernel_features) -> None:
    proc = start_json("--probes", "exec,connect")
    read_until(proc, attached({"exec", "connect"}))
    maps = Path(f"/proc/{proc.pid}/maps").read_text()
    proc.terminate()
    proc.wait(timeout=30)
    assert "libbcc_bpf.so" in maps  # bcc's Python API runs over it
    assert "libbcc.so" not in maps and "libLLVM" not in maps and "libclang" not in maps
