"""A probe that cannot compile reports bcc's error as its status; the others keep working."""

from __future__ import annotations

import dataclasses
import subprocess
import uuid
from pathlib import Path

import pytest

from bpftop.core.records import ExecRecord, ProbeStatus
from bpftop.core.resources import bpf_dir
from bpftop.core.stderr_capture import StderrCapture
from bpftop.engine.bpf_engine import BpfEngine
from bpftop.host.kernel import KernelFeatures
from bpftop.probes.base import PlanStep, Probe
from bpftop.probes.exec_probe import ExecProbe
from tests.helpers.collector import Collector
from tests.helpers.timing import SLOWDOWN

pytestmark = pytest.mark.bpf


def run_until_an_exec_is_seen(
    kernel: KernelFeatures, probe_classes: tuple[type[Probe], ...], *enabled: str
) -> Collector:
    """An engine with bcc's stderr captured (as the CLI runs it), stopped once an exec
    of /bin/true reached its records: the exec probe works, whatever else failed."""
    capture = StderrCapture()
    capture.start()
    sink = Collector()
    try:
        engine = BpfEngine(kernel, probe_classes, sink, enabled=enabled, stderr=capture)
        engine.start()
        assert engine.ready.wait(30 * SLOWDOWN)
        token = uuid.uuid4().hex
        subprocess.run(["/bin/true", token], check=True)
        assert sink.wait_for(lambda: any(token in r.argv for r in sink.of_type(ExecRecord)))
        engine.stop()
    finally:
        capture.stop()
    return sink


def test_compile_error_is_one_status_line_and_exec_still_works(kernel_features, tmp_path) -> None:
    broken = tmp_path / "broken.c"
    broken.write_text("TRACEPOINT_PROBE(sched, sched_process_fork) { return undeclared_thing; }\n")

    step = ExecProbe.plan_for(kernel_features)[0]
    assert step is not None
    one_step: tuple[PlanStep, ...] = (step,)  # one step: one failure to report

    class BrokenProbe(ExecProbe):
        name = "broken"
        plan = one_step

        def source_path(self) -> Path:
            return Path(broken)

    sink = run_until_an_exec_is_seen(kernel_features, (BrokenProbe, ExecProbe), "broken", "exec")
    broken_states = [s for s in sink.of_type(ProbeStatus) if s.probe == "broken"]
    assert [s.state for s in broken_states] == ["attaching", "unavailable"]
    reason = broken_states[-1].reason or ""
    assert "Failed to compile BPF module" in reason
    assert "use of undeclared identifier 'undeclared_thing'" in reason
    assert "\n" not in reason


def test_probe_that_breaks_while_running_is_stopped_alone(kernel_features) -> None:
    from bpftop.probes.connect_probe import ConnectProbe

    class BreaksOnPoll(ConnectProbe):
        def poll(self) -> None:
            raise RuntimeError("ring buffer went away")

    sink = Collector()
    engine = BpfEngine(
        kernel_features, (BreaksOnPoll, ExecProbe), sink, enabled=("connect", "exec")
    )
    engine.start()
    assert engine.ready.wait(30 * SLOWDOWN)
    assert sink.wait_for(lambda: any(s.state == "unavailable" for s in sink.of_type(ProbeStatus)))
    token = uuid.uuid4().hex
    subprocess.run(["/bin/true", token], check=True)
    assert sink.wait_for(lambda: any(token in r.argv for r in sink.of_type(ExecRecord)))
    assert not engine.probes["connect"].active
    engine.stop()
    connect = [s for s in sink.of_type(ProbeStatus) if s.probe == "connect"]
    assert [s.state for s in connect] == ["attaching", "attached", "unavailable"]
    assert connect[-1].reason == "stopped after error: ring buffer went away"


def test_a_step_that_fails_to_start_falls_back_to_the_next(kernel_features, tmp_path) -> None:
    """A kernel can list a hook and still refuse it: the next step of the plan is tried,
    and the status says why the first one was passed over."""
    source = tmp_path / "exec_or_not.c"
    # A copy, not an #include: bcc finds TRACEPOINT_PROBEs in the main file's text.
    exec_c = (bpf_dir() / ExecProbe.source).read_text()
    source.write_text("#ifdef BREAK_IT\n#error broken on purpose\n#endif\n" + exec_c)
    real = ExecProbe.plan_for(kernel_features)[0]
    assert real is not None
    refused = dataclasses.replace(real, via="a step the kernel refuses",
                                  cflags=(*real.cflags, "-DBREAK_IT"))  # fmt: skip

    steps: tuple[PlanStep, ...] = (refused, real)

    class FallingBack(ExecProbe):
        plan = steps

        def source_path(self) -> Path:
            return Path(source)

    sink = run_until_an_exec_is_seen(kernel_features, (FallingBack,), "exec")
    states = [(s.state, s.via) for s in sink.of_type(ProbeStatus)]
    assert states[:3] == [("attaching", refused.via), ("attaching", real.via),
                          ("attached", real.via)]  # fmt: skip
    attached = next(s for s in sink.of_type(ProbeStatus) if s.state == "attached")
    why = dict(attached.skipped)[refused.via]
    assert why.startswith("failed: ") and "broken on purpose" in why
