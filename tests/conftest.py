"""Shared fixtures: the BPF gate, engines that collect records, snapshot storage."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pytest_textual_snapshot import SVGImageExtension

from bpftop.cli.preflight import preflight
from bpftop.host import kernel
from bpftop.host.kernel import KernelFeatures
from tests.helpers.collector import Collector
from tests.helpers.timing import SLOWDOWN

ROOT = Path(__file__).resolve().parent.parent
os.environ["TZ"] = "UTC"  # frames show wall-clock times
time.tzset()
# The compile cache (bpftop/loader/compile_cache.py): a directory of this test run's
# own, so every run starts cold (the compiles are tested) and no run leaves files in
# /var/cache; within the run, a probe compiled once loads from it.
os.environ["BPFTOP_CACHE_DIR"] = tempfile.mkdtemp(prefix="bpftop-test-cache-")
atexit.register(shutil.rmtree, os.environ["BPFTOP_CACHE_DIR"], True)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked `apparmor` or `landlock` need a kernel running that LSM: this
    project's machine runs no AppArmor, the kernel matrix's VMs do; 5.10 has no Landlock.
    Elsewhere they are deselected, and pytest's summary says how many, never counted as
    passed."""
    try:
        lsms = Path("/sys/kernel/security/lsm").read_text().strip().split(",")
    except OSError:
        lsms = []
    needing = [item for item in items for lsm in ("apparmor", "landlock")
               if lsm not in lsms and item.get_closest_marker(lsm)]  # fmt: skip
    if needing:
        config.hook.pytest_deselected(items=needing)
        items[:] = [item for item in items if item not in needing]


def _bpf_problem() -> str | None:
    return preflight(kernel.detect())


@pytest.fixture(scope="session")
def kernel_features() -> kernel.KernelFeatures:
    """Skips where BPF is impossible; with BPFTOP_REQUIRE_BPF=1 (CI) that is a failure.
    BPFTOP_HIDE_HELPERS (as for bpftop itself) runs the tests with the helper fallbacks
    an older kernel compiles in."""
    problem = _bpf_problem()
    if problem:
        if os.environ.get("BPFTOP_REQUIRE_BPF") == "1":
            pytest.fail(f"BPF required but unavailable: {problem}")
        pytest.skip(f"BPF unavailable: {problem}")
    hidden = [name for name in os.environ.get("BPFTOP_HIDE_HELPERS", "").split(",") if name]
    return kernel.detect(hidden_helpers=hidden)


@pytest.fixture
def engine_for(kernel_features: kernel.KernelFeatures) -> Iterator[Callable[..., Any]]:
    """Start a real BpfEngine on the named probes; it is stopped after the test."""
    from bpftop.catalog import PROBE_CLASSES
    from bpftop.engine.bpf_engine import BpfEngine

    engines: list[BpfEngine] = []

    def start(
        *probes: str,
        interval: float = 0.5,
        prepare: Callable[[BpfEngine], None] = lambda _engine: None,
        kernel: KernelFeatures | None = None,
        hide_pid: int = 0,
    ) -> tuple[BpfEngine, Collector]:
        """`kernel`: features to plan with instead of the detected ones (to make a
        probe take a fallback step, by hiding what the richer steps need). `hide_pid`:
        as bpftop hides itself (the tests' own workloads run in this process)."""
        sink = Collector()
        engine = BpfEngine(kernel or kernel_features, PROBE_CLASSES, sink, enabled=probes,
                           interval=interval, hide_pid=hide_pid)  # fmt: skip
        engines.append(engine)
        prepare(engine)  # settings given before anything attaches, as the CLI does
        engine.start()
        # A compile child loads libbcc.so (LLVM) afresh: seconds under emulation.
        assert engine.ready.wait(30 * SLOWDOWN), f"probes did not attach in {30 * SLOWDOWN:.0f} s"
        return engine, sink

    yield start
    for engine in engines:
        engine.stop()


def _snapshots_dir(_cls: type, *, test_location: Any) -> str:
    return str(ROOT / "snapshots")


# snap_compare (pytest-textual-snapshot) stores its frames with SVGImageExtension, in
# __snapshots__/ beside the tests by default; bpftop's live in the top-level snapshots/.
SVGImageExtension.dirname = classmethod(_snapshots_dir)  # type: ignore[assignment,method-assign]
