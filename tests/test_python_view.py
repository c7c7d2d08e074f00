"""Real kernel: the drilldown's Python view counts a named Python function's calls
exactly, with its file and line, from CPython's USDT probes read in the kernel."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from bpftop.core.commands import SetTarget, SetUprobeBudget, UprobePython
from bpftop.core.records import OVER_BUDGET, ProbeStatus, UprobeRecord
from bpftop.host.user_binaries import python_probes

pytestmark = pytest.mark.bpf

HELPER = textwrap.dedent("""
    import sys

    def bpftop_named(i):
        return i + 1

    def bpftop_caller(n):
        for i in range(n):
            bpftop_named(i)
            bpftop_branchy(i)

    def bpftop_branchy(i):
        x = i
        if x % 2:
            return 1
        return 2

    print("ready", flush=True)
    for line in sys.stdin:
        bpftop_caller(int(line))
        print("done", flush=True)
""")


def interpreter_has_usdt() -> bool:
    probe = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        time.sleep(0.2)
        python_probes(probe.pid)
        return True
    except ValueError:
        return False
    finally:
        probe.kill()
        probe.wait()


def test_a_named_python_function_is_counted_exactly_with_its_file_and_line(
    engine_for, tmp_path: Path
) -> None:
    if not interpreter_has_usdt():
        pytest.fail(f"{sys.executable} has no python:function__entry USDT probe: the "
                    "Python view cannot be tested with this interpreter")  # fmt: skip
    script = tmp_path / "bpftop_helper.py"
    script.write_text(HELPER)
    helper = subprocess.Popen([sys.executable, str(script)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert helper.stdin is not None and helper.stdout is not None
        assert helper.stdout.readline().strip() == "ready"

        def prepare(engine) -> None:
            engine.submit(SetTarget(helper.pid))
            engine.submit(SetUprobeBudget(100.0))  # this test counts, never detaches
            engine.submit(UprobePython())

        engine, sink = engine_for("uprobes", interval=0.3, prepare=prepare)
        for n in (1234, 766):
            helper.stdin.write(f"{n}\n")
            helper.stdin.flush()
            assert helper.stdout.readline().strip() == "done"

        def named() -> list[UprobeRecord]:
            return [r for r in sink.of_type(UprobeRecord) if r.symbol == "bpftop_named"]

        assert sink.wait_for(lambda: sum(r.calls for r in named()) >= 2000)
        time.sleep(0.7)  # two more intervals
        engine.stop()
    finally:
        helper.kill()
        helper.wait()
    records = named()
    assert sum(r.calls for r in records) == 2000
    # This interpreter (CPython 3.11) fires function__entry only under a tracer: calls
    # only, and a row's line is the line the function returned from; the view says so.
    assert {(r.target, r.path) for r in records} == {("bpftop_helper.py:5", str(script))}
    assert all(r.lat_us is None for r in records)
    assert any("calls only" in (s.reason or "") for s in sink.of_type(ProbeStatus))
    assert all(r.cost_pct is not None for r in records)
    callers = [r for r in sink.of_type(UprobeRecord) if r.symbol == "bpftop_caller"]
    assert sum(r.calls for r in callers) == 2
    assert {r.target for r in callers} == {"bpftop_helper.py:8"}
    # Two return statements: a row each, exact (i odd: the first; even: the second).
    branchy: dict[str, int] = {}
    for r in sink.of_type(UprobeRecord):
        if r.symbol == "bpftop_branchy":
            branchy[r.target] = branchy.get(r.target, 0) + r.calls
    assert branchy == {"bpftop_helper.py:15": 1000, "bpftop_helper.py:16": 1000}
    assert not [s for s in sink.of_type(ProbeStatus) if s.code == OVER_BUDGET]
