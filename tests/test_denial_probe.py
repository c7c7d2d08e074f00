"""Real kernel: the denials probe sees exactly the denied syscalls a workload makes,
names the refused capability, and stays exact under a flood."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import time
from typing import Any

import pytest

from bpftop.core.records import (
    DenialGroupRecord,
    DenialRecord,
    ProbeCounts,
    ProbeStatus,
    SilentCapRecord,
)
from bpftop.host.kernel import KernelFeatures
from bpftop.probes.denial_probe import LSM_HOOK_SETS, LSM_HOOKS, DenialProbe
from tests.helpers.denied import NOBODY, run_as_nobody, workbench

pytestmark = pytest.mark.bpf
DENIED = 41
ALLOWED = 17
TRACEPOINT_STEP, KPROBE_STEP, NO_CAUSE_STEP = (step.via for step in DenialProbe.plan[-3:])
# the LSM hooks fexit can go on -> how the step names them
HOOKS_VIA = {frozenset(hooks): via for hooks, via, _flags in LSM_HOOK_SETS}


def lsm_hooks_here(kernel: KernelFeatures) -> frozenset[str]:
    """The LSM hooks fexit programs go on here: where they load (no lockdown: not this
    machine), those the kernel has (5.10 has no Landlock)."""
    if kernel.prog_type_reason("tracing") is not None:
        return frozenset()
    return kernel.traceable_functions(LSM_HOOKS)


def cause_step(kernel: KernelFeatures) -> str:
    """The step that names causes on this kernel: the capability tracepoint where it
    exists (6.18), else the kprobe (6.1, 6.12); with the LSM hooks where fexit loads.
    A kernel with neither capability hook fails the tests that need one."""
    cap_step = TRACEPOINT_STEP if kernel.has_tracepoint("capability:cap_capable") else KPROBE_STEP
    hooks = lsm_hooks_here(kernel)
    return f"{cap_step} + {HOOKS_VIA[hooks]}" if hooks else cap_step


def group_total(sink, comm: str, syscall: str) -> int:
    return sum(
        g.count
        for g in sink.of_type(DenialGroupRecord)
        if g.comm == comm and g.syscall == syscall and g.uid == NOBODY
    )


def denied_opens(engine_for, kernel: KernelFeatures | None = None) -> tuple[Any, ...]:
    """Attach the denials probe, then DENIED denied and ALLOWED allowed opens as uid 65534:
    the attached status, that helper's denial records, the denied and the allowed path,
    and the sink."""
    with workbench() as bench:
        engine, sink = engine_for("denials", interval=0.3, kernel=kernel)
        (status,) = [s for s in sink.of_type(ProbeStatus) if s.state == "attached"]
        pid = run_as_nobody(bench, DENIED, ALLOWED)

        def mine() -> list[DenialRecord]:
            return [r for r in sink.of_type(DenialRecord) if r.pid == pid]

        assert sink.wait_for(lambda: group_total(sink, "denyloop", "openat") >= DENIED)
        assert sink.wait_for(lambda: len(mine()) >= DENIED)
        engine.stop()
    return status, mine(), str(bench.secret), str(bench.public), sink


def test_exact_denied_opens_with_path_errno_pid_and_cause(engine_for, kernel_features) -> None:
    status, records, secret, public, sink = denied_opens(engine_for)
    assert status.via == cause_step(kernel_features)
    assert len(records) == DENIED  # the allowed opens made none
    for r in records:
        assert (r.syscall, r.errno, r.path, r.uid, r.comm) == (
            "openat", "EACCES", secret, NOBODY, "denyloop",
        )  # fmt: skip
        # The mode check failed and the override capabilities were refused in that call.
        assert r.mechanism == "capability" and "CAP_DAC_OVERRIDE" in (r.detail or "")
    assert group_total(sink, "denyloop", "openat") == DENIED
    assert not [r for r in sink.of_type(DenialRecord) if r.path == public]
    counts = [c for c in sink.of_type(ProbeCounts) if c.probe == "denials"]
    assert sum(c.counts["sampled_out"] + c.lost for c in counts) == 0


def test_binding_port_80_without_the_capability_names_it(engine_for, kernel_features) -> None:
    engine, sink = engine_for("denials", interval=0.3)
    (status,) = [s for s in sink.of_type(ProbeStatus) if s.state == "attached"]
    assert status.via == cause_step(kernel_features)
    script = "import socket\ntry:\n socket.socket().bind(('127.0.0.1', 80))\nexcept OSError: pass"
    child = subprocess.Popen(["/usr/bin/python3", "-S", "-c", script], user=NOBODY, group=NOBODY,
                             extra_groups=[], cwd="/")  # fmt: skip
    assert child.wait(30) == 0

    def binds() -> list[DenialRecord]:
        return [r for r in sink.of_type(DenialRecord) if r.pid == child.pid and r.syscall == "bind"]

    assert sink.wait_for(lambda: len(binds()) >= 1)
    engine.stop()
    (r,) = binds()
    assert (r.errno, r.addr, r.mechanism, r.detail) == (
        "EACCES", "127.0.0.1:80", "capability", "CAP_NET_BIND_SERVICE",
    )  # fmt: skip


def test_a_flood_is_sampled_but_its_count_stays_exact(engine_for) -> None:
    flood = 200_000
    with workbench() as bench:
        engine, sink = engine_for("denials", interval=0.3)
        pid = run_as_nobody(bench, flood, 0)
        assert sink.wait_for(lambda: group_total(sink, "denyloop", "openat") >= flood)
        engine.stop()
    assert group_total(sink, "denyloop", "openat") == flood  # counted in the kernel
    sent = sum(1 for r in sink.of_type(DenialRecord) if r.pid == pid)
    counts = [c for c in sink.of_type(ProbeCounts) if c.probe == "denials"]
    dropped = sum(c.counts["sampled_out"] + c.lost for c in counts)
    assert 0 < sent < flood  # a per-CPU budget, not one record per denial
    assert sent + dropped >= flood  # every denial was either sent or counted as dropped


def test_without_a_capability_hook_every_denial_is_still_exact(engine_for, kernel_features) -> None:
    """The last step, for kernels with neither the tracepoint nor kprobes: forced here by
    hiding both; every denial with its path, only the cause unknown."""
    bare = dataclasses.replace(
        kernel_features,
        kprobes=False,
        prog_types=kernel_features.prog_types - {"tracing"},
        hidden_tracepoints=kernel_features.hidden_tracepoints | {"capability:cap_capable"},
    )
    status, records, secret, _public, sink = denied_opens(engine_for, bare)
    assert status.via == NO_CAUSE_STEP
    assert dict(status.skipped)[KPROBE_STEP] == "unavailable, CONFIG_KPROBES off"
    assert group_total(sink, "denyloop", "openat") == DENIED
    assert len(records) == DENIED
    for r in records:
        assert (r.syscall, r.errno, r.path, r.mechanism, r.detail) == (
            "openat", "EACCES", secret, "syscall", None,
        )  # fmt: skip
    counts = [c for c in sink.of_type(ProbeCounts) if c.probe == "denials"]
    assert sum(c.counts["cap_refused"] for c in counts) == 0  # nothing hooks capability checks


# As root (no mode or capability check fails), restricted by Landlock to no file reads:
# every open of a file is refused by Landlock alone.
LANDLOCKED = """
import ctypes, sys
libc = ctypes.CDLL(None, use_errno=True)
path, n = sys.argv[1], int(sys.argv[2])
libc.prctl(15, b"landlocked", 0, 0, 0)  # PR_SET_NAME
READ_FILE = 1 << 2  # LANDLOCK_ACCESS_FS_READ_FILE
attr = ctypes.c_uint64(READ_FILE)  # struct landlock_ruleset_attr, ABI 1
ruleset = libc.syscall(444, ctypes.byref(attr), 8, 0)  # landlock_create_ruleset
assert ruleset >= 0, ctypes.get_errno()
assert libc.prctl(38, 1, 0, 0, 0) == 0  # PR_SET_NO_NEW_PRIVS
assert libc.syscall(446, ruleset, 0) == 0  # landlock_restrict_self
for _ in range(n):
    try:
        open(path).close()
    except PermissionError:
        pass
print("done", flush=True)
"""


@pytest.mark.landlock
def test_a_landlock_denial_names_landlock_where_lsm_hooks_load(engine_for, kernel_features) -> None:
    """Where fexit loads, the LSM that refused is named; elsewhere (this machine, under
    lockdown) the denial is still counted exactly, with its cause unknown."""
    engine, sink = engine_for("denials", interval=0.3)
    helper = subprocess.run([sys.executable, "-c", LANDLOCKED, "/etc/hostname", str(DENIED)],
                            capture_output=True, text=True, timeout=120)  # fmt: skip
    assert helper.stdout == "done\n", helper.stderr

    assert sink.wait_for(lambda: len(hostname_denials(sink)) >= DENIED)
    engine.stop()
    records = hostname_denials(sink)
    assert len(records) == DENIED
    named = ("lsm", "landlock") if "hook_file_open" in lsm_hooks_here(kernel_features) else (
        "syscall", None)  # fmt: skip
    assert {(r.syscall, r.errno, r.comm, r.mechanism, r.detail) for r in records} == {
        ("openat", "EACCES", "landlocked", *named)
    }


def hostname_denials(sink) -> list[DenialRecord]:
    return [r for r in sink.of_type(DenialRecord)
            if r.comm == "landlocked" and r.path == "/etc/hostname"]  # fmt: skip


# Confined by an AppArmor profile that allows everything but reading /etc/hostname.
AA_PROFILE = "bpftop-test-deny-hostname"
AA_RULES = f"profile {AA_PROFILE} {{\n  file,\n  capability,\n  deny /etc/hostname r,\n}}\n"
AA_DENIED = """
import ctypes, sys
ctypes.CDLL(None).prctl(15, b"aa-denied", 0, 0, 0)  # PR_SET_NAME
for _ in range(int(sys.argv[1])):
    try:
        open("/etc/hostname").close()
    except PermissionError:
        pass
print("done", flush=True)
"""


@pytest.mark.apparmor
def test_an_apparmor_denial_names_apparmor(engine_for, kernel_features) -> None:
    """On a kernel running AppArmor (6.1 and 6.12 in the matrix; not this project's
    machine, so `make test` deselects it), a profile's refusal is named `apparmor` where
    fexit loads, and counted exactly with its cause unknown where it does not."""
    load = ["apparmor_parser", "--replace", "--skip-cache"]
    subprocess.run(load, input=AA_RULES, text=True, check=True, capture_output=True)
    try:
        engine, sink = engine_for("denials", interval=0.3)
        helper = subprocess.run(
            ["aa-exec", "-p", AA_PROFILE, "--", sys.executable, "-c", AA_DENIED, str(DENIED)],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert helper.stdout == "done\n", helper.stderr

        def denied() -> list[DenialRecord]:
            return [r for r in sink.of_type(DenialRecord)
                    if r.comm == "aa-denied" and r.path == "/etc/hostname"]  # fmt: skip

        assert sink.wait_for(lambda: len(denied()) >= DENIED)
        engine.stop()
    finally:
        unload = ["apparmor_parser", "--remove"]
        subprocess.run(unload, input=AA_RULES, text=True, check=True, capture_output=True)
    records = denied()
    assert len(records) == DENIED
    here = lsm_hooks_here(kernel_features)
    named = ("lsm", "apparmor") if "apparmor_file_open" in here else ("syscall", None)
    assert {(r.syscall, r.errno, r.mechanism, r.detail) for r in records} == {
        ("openat", "EACCES", *named)
    }


def test_the_hidden_process_never_appears_and_the_others_stay_exact(engine_for) -> None:
    """bpftop hides its own process in the kernel (its refused BPF loads and /proc reads
    were listed as the box's denials). Here the hidden process is a helper: its 9
    denials are neither events nor counted in a group; another helper's 7 are, exactly."""
    with workbench() as bench:
        hidden = subprocess.Popen(
            ["sh", "-c", 'read go; exec "$0" "$1" 9 "$2" 0', str(bench.opener), str(bench.secret),
             str(bench.public)],
            stdin=subprocess.PIPE, user=NOBODY, group=NOBODY, extra_groups=[], cwd="/",
        )  # fmt: skip
        try:
            engine, sink = engine_for("denials", hide_pid=hidden.pid)
            assert hidden.stdin is not None
            hidden.stdin.write(b"go\n")
            hidden.stdin.close()
            assert hidden.wait(60) == 0
            shown = run_as_nobody(bench, 7, 0)
            assert sink.wait_for(lambda: group_total(sink, "denyloop", "openat") >= 7)
            assert sink.wait_for(
                lambda: len([r for r in sink.of_type(DenialRecord) if r.pid == shown]) >= 7
            )
            time.sleep(1.2)  # two more intervals: the hidden helper's would have arrived
            engine.stop()
        finally:
            hidden.kill()
    assert group_total(sink, "denyloop", "openat") == 7
    assert not [r for r in sink.of_type(DenialRecord) if r.pid == hidden.pid]


MLOCK_C = r"""
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/resource.h>
/* capcheck N: N mlock() calls past RLIMIT_MEMLOCK, each of which asks for CAP_IPC_LOCK,
 * is refused and fails with ENOMEM: a refused capability that denies nothing. */
int main(int argc, char **argv) {
    long n = atol(argv[1]);
    struct rlimit small = {4096, 4096};
    if (setrlimit(RLIMIT_MEMLOCK, &small)) return 2;
    static char buf[1 << 16] __attribute__((aligned(4096)));
    for (long i = 0; i < n; i++)
        if (mlock(buf, sizeof(buf)) == 0) return 3;
    return 0;
}
"""
SILENT = 23


def test_silent_capability_checks_are_counted_per_process_and_capability(
    engine_for, kernel_features, tmp_path
) -> None:
    """ "silent caps" grew with no way to see who: each refused check that failed no
    syscall is counted per comm, uid, syscall and capability. The denied opens' own
    refused checks were named by their denials: none of them is silent."""
    from tests.helpers.c_helpers import compile_c

    with workbench() as bench:
        capcheck = compile_c(bench.opener.parent, "capcheck", MLOCK_C)
        engine, sink = engine_for("denials", interval=0.3)
        subprocess.run([str(capcheck), str(SILENT)], user=NOBODY, group=NOBODY,
                       extra_groups=[], cwd="/", check=True)  # fmt: skip
        run_as_nobody(bench, DENIED, 0)

        def silent(comm: str) -> list[SilentCapRecord]:
            return [r for r in sink.of_type(SilentCapRecord) if r.comm == comm]

        def mlocks() -> int:
            return sum(r.count for r in silent("capcheck") if r.syscall == "mlock")

        assert sink.wait_for(lambda: mlocks() >= SILENT)
        assert sink.wait_for(lambda: group_total(sink, "denyloop", "openat") >= DENIED)
        time.sleep(1.0)  # three more intervals: nothing more arrives
        engine.stop()
    # Each mlock() past the limit asks the same number of times (twice on 6.18); the
    # loader's own checks (mmap: CAP_SYS_ADMIN) come under their own syscall.
    mine = [r for r in silent("capcheck") if r.syscall == "mlock"]
    assert mlocks() % SILENT == 0, mine
    assert {(r.uid, r.cap) for r in mine} == {(NOBODY, "CAP_IPC_LOCK")}
    opens = [r for r in silent("denyloop") if r.syscall == "openat"]
    assert sum(r.count for r in opens) == 0, opens  # each refusal named by its denial
    assert not [r for r in sink.of_type(DenialRecord) if r.comm == "capcheck"]
