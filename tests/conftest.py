"""Shared fixtures: the BPF gate, engines that collect records, snapshot storage."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pytest_textual_snapshot import SVGImageExtension

from bpftop import kernel
from bpftop.preflight import preflight
from bpftop.kernel import KernelFeatures

ROOT = Path(__file__).resolve().parent.parent
# Inside the kernel matrix's VMs (scripts/kernel-vm) everything runs under emulation,
# ~5-10x slower (a bcc compile takes up to 12 s): waits for what the kernel does stretch.
SLOWDOWN = 6.0 if os.environ.get("BPFTOP_IN_VM") else 1.0
os.environ["TZ"] = "UTC"  # frames show wall-clock times
time.tzset()
# The compile cache (bpftop/probes/compile_cache.py): a directory of this test run's
# own, so every run starts cold (the compiles are tested) and no run leaves files in
# /var/cache; within the run, a probe compiled once loads from it.
os.environ["BPFTOP_CACHE_DIR"] = tempfile.mkdtemp(prefix="bpftop-test-cache-")
atexit.register(shutil.rmtree, os.environ["BPFTOP_CACHE_DIR"], True)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked `apparmor` need a kernel running AppArmor: this project's machine
    does not, the kernel matrix's VMs (make test-kernels) do. Elsewhere they are
    deselected, and pytest's summary says how many, never counted as passed."""
    try:
        lsms = Path("/sys/kernel/security/lsm").read_text().split(",")
    except OSError:
        lsms = []
    if "apparmor" in lsms:
        return
    needing = [item for item in items if item.get_closest_marker("apparmor")]
    if needing:
        config.hook.pytest_deselected(items=needing)
        items[:] = [item for item in items if item not in needing]


def _bpf_problem() -> str | None:
    return preflight(kernel.detect())


@pytest.fixture(scope="session")
def kernel_features() -> kernel.KernelFeatures:
    """Skips where BPF is impossible; with BPFTOP_REQUIRE_BPF=1 (CI) that is a failure."""
    problem = _bpf_problem()
    if problem:
        if os.environ.get("BPFTOP_REQUIRE_BPF") == "1":
            pytest.fail(f"BPF required but unavailable: {problem}")
        pytest.skip(f"BPF unavailable: {problem}")
    return kernel.detect()


class Collector:
    """A thread-safe sink that keeps every record an engine emits."""

    def __init__(self) -> None:
        self.records: list[Any] = []
        self._lock = threading.Lock()

    def __call__(self, record: Any) -> None:
        with self._lock:
            self.records.append(record)

    def of_type(self, cls: type) -> list[Any]:
        with self._lock:
            return [r for r in self.records if isinstance(r, cls)]

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout * SLOWDOWN
        while time.monotonic() < deadline:
            if predicate():
                return True
            time.sleep(0.05)
        return predicate()


@pytest.fixture
def engine_for(kernel_features: kernel.KernelFeatures) -> Iterator[Callable[..., Any]]:
    """Start a real BpfEngine on the named probes; it is stopped after the test."""
    from bpftop.engine import BpfEngine
    from bpftop.registry import PROBE_CLASSES

    engines: list[BpfEngine] = []

    def start(
        *probes: str,
        interval: float = 0.5,
        prepare: Callable[[BpfEngine], None] = lambda _engine: None,
        kernel: KernelFeatures | None = None,
    ) -> tuple[BpfEngine, Collector]:
        """`kernel`: features to plan with instead of the detected ones (to make a
        probe take a fallback step, by hiding what the richer steps need)."""
        sink = Collector()
        engine = BpfEngine(kernel or kernel_features, PROBE_CLASSES, sink, enabled=probes,
                           interval=interval)  # fmt: skip
        engines.append(engine)
        prepare(engine)  # settings given before anything attaches, as the CLI does
        engine.start()
        # A compile child loads libbcc.so (LLVM) afresh: seconds under emulation.
        assert engine.ready.wait(30 * SLOWDOWN), f"probes did not attach in {30 * SLOWDOWN:.0f} s"
        return engine, sink

    yield start
    for engine in engines:
        engine.stop()


class SnapshotsDirSVG(SVGImageExtension):
    """Store the SVG frames in the top-level snapshots/ folder."""

    @classmethod
    def dirname(cls, *, test_location: Any) -> str:
        return str(ROOT / "snapshots")


@pytest.fixture
def svg_snapshot(snapshot: Any) -> Any:
    return snapshot.use_extension(SnapshotsDirSVG)
