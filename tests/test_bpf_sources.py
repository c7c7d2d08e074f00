"""Every attach step of every probe compiles on this machine, including the steps this
kernel cannot load (fexit, kprobes): a step is otherwise first compiled on the kernel
that offers it, in a VM of the kernel matrix, or on a user's box."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from typing import Any

import pytest

from bpftop.catalog import PROBE_CLASSES
from bpftop.engine.bpf_engine import helper_fallback_cflags
from bpftop.probes.base import KernelClock, PidProbe, Probe
from bpftop.probes.denial_probe import DenialProbe
from bpftop.probes.shared_sys_exit import SharedSysExit
from tests.helpers.netns import ROOT

pytestmark = pytest.mark.bpf  # bcc compiles against this kernel's headers, as root

# Compile only: bcc's BPF() compiles the module; nothing is loaded or attached.
COMPILE = """
import sys
from bpftop.loader.bcc_without_compiler import using_real_libbcc
using_real_libbcc()
from bcc import BPF
class CompileOnly(BPF):
    def _trace_autoload(self):
        pass
CompileOnly(src_file=sys.argv[1].encode(), cflags=sys.argv[2:])
"""


def requests() -> list[Any]:
    """Every step's compile, and again with the fallbacks for the helpers older kernels
    lack (bpf/bpftop.h), as 5.10 compiles it."""
    out = []
    for cls in PROBE_CLASSES:
        probe: Probe = cls(lambda _record: None, KernelClock())
        if isinstance(probe, PidProbe):
            probe.pid = 1  # a pid compiled in
        for step in cls.plan:
            # The denials program with and without the exec probe's part in it.
            for exec_part in (False, True) if cls is DenialProbe else (False,):
                probe.shared_sys_exit = SharedSysExit(exec_part=exec_part)
                request = probe.compile_request(step)
                name = f"{cls.name}: {step.via}" + (" + exec part" if exec_part else "")
                for fallbacks in (False, True):
                    label = name + (" + helper fallbacks" if fallbacks else "")
                    out.append(pytest.param(label, request.source, request.cflags, fallbacks,
                                            id=label))  # fmt: skip
    return out


@pytest.mark.parametrize(("step", "source", "cflags", "fallbacks"), requests())
def test_every_step_compiles(
    kernel_features, step: str, source: str, cflags: tuple[str, ...], fallbacks: bool
) -> None:
    if fallbacks:
        hidden = dataclasses.replace(kernel_features, helpers=frozenset())
        cflags += helper_fallback_cflags(hidden)
    run = subprocess.run(
        [sys.executable, "-c", COMPILE, source, *cflags],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
    )  # fmt: skip
    errors = [line for line in run.stderr.splitlines() if "error:" in line]
    assert run.returncode == 0 and not errors, f"{step}: {errors or run.stderr[-2000:]}"
