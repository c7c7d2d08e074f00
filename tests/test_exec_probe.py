"""Real kernel: the exec probe sees exactly the execs a workload makes."""

from __future__ import annotations

import ctypes
import os
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bpftop.core.commands import Enable, SetExecFailures, SetFilter
from bpftop.core.filters import Filter
from bpftop.core.records import (
    EXEC_FAILURES_OFF,
    DenialRecord,
    ExecRecord,
    ProbeCounts,
    ProbeStatus,
)
from bpftop.loader.libbpf import tracing_programs_reattach
from bpftop.probes.base import PlanStep
from bpftop.probes.exec_probe import (
    FEXIT_STEP,
    KRETPROBE_STEP,
    SHARED_VIA,
    SYS_EXIT_STEP,
    SYSCALL_STEP,
    ExecProbe,
)
from tests.helpers.bpftool import (
    attached_names,
    attached_sys_exit_programs,
    map_names_of,
    probe_program_ids,
)
from tests.helpers.timing import wait_until

SUCCESS_PROGRAMS = [
    "tracepoint__sched__sched_process_exec",
    "tracepoint__sched__sched_process_fork",
]
# What each step attaches for failed execs (bpftool's names).
FAILURE_PROGRAMS = {
    FEXIT_STEP.via: ["kretfunc____x64_sys_execve", "kretfunc____x64_sys_execveat"],
    KRETPROBE_STEP.via: ["kretprobe____x64_sys_execve", "kretprobe____x64_sys_execveat"],
    SYS_EXIT_STEP.via: ["tracepoint__syscalls__sys_exit_execve",
                        "tracepoint__syscalls__sys_exit_execveat"],
}  # fmt: skip

pytestmark = pytest.mark.bpf
N = 60
PR_SET_NAME = 15


def test_exact_successful_execs_with_argv_pid_and_ppid(engine_for) -> None:
    engine, sink = engine_for("exec")
    token = f"bpftop-test-{uuid.uuid4().hex}"
    args = [f"arg{i}" for i in range(25)]  # more than the 20 argv slots
    pids = set()
    for i in range(N):
        proc = subprocess.Popen(["/bin/true", token, str(i), *args])
        pids.add(proc.pid)
        proc.wait()

    def mine() -> list[ExecRecord]:
        return [r for r in sink.of_type(ExecRecord) if token in r.argv]

    assert sink.wait_for(lambda: len(mine()) >= N)
    engine.stop()
    records = mine()
    assert len(records) == N
    assert {r.pid for r in records} == pids
    for r in records:
        assert r.ret == 0 and r.error is None
        assert r.ppid == os.getpid()
        assert r.uid == os.getuid()
        assert r.comm == "true"
        assert r.filename == "/bin/true"
        assert len(r.argv) == 20 and r.argv_truncated
        assert r.argv[:2] == ("/bin/true", token)
        assert list(r.argv[3:]) == args[:17]
    assert sorted(int(r.argv[2]) for r in records) == list(range(N))
    counted = sum(c.counts["ok"] for c in sink.of_type(ProbeCounts) if c.probe == "exec")
    assert counted >= N  # the kernel counted at least ours (the box runs others too)
    assert sum(c.lost for c in sink.of_type(ProbeCounts)) == 0


def test_failed_execs_carry_errno(engine_for) -> None:
    engine, sink = engine_for("exec")
    missing = f"/nonexistent/bpftop-{uuid.uuid4().hex}"
    for _ in range(N):
        with pytest.raises(FileNotFoundError):
            subprocess.run([missing, "x"])
    not_exec = f"/tmp/bpftop-noexec-{uuid.uuid4().hex}"
    with open(not_exec, "w") as f:
        f.write("#!/bin/sh\n")
    try:
        for _ in range(3):
            with pytest.raises(PermissionError):
                subprocess.run([not_exec])
    finally:
        os.unlink(not_exec)

    def failed(path: str) -> list[ExecRecord]:
        return [r for r in sink.of_type(ExecRecord) if r.filename == path]

    assert sink.wait_for(lambda: len(failed(missing)) >= N and len(failed(not_exec)) >= 3)
    engine.stop()
    assert len(failed(missing)) == N
    assert all(r.ret == -2 and r.error == "ENOENT" for r in failed(missing))
    assert all(r.argv == (missing, "x") for r in failed(missing))
    assert len(failed(not_exec)) == 3
    assert all(r.error == "EACCES" for r in failed(not_exec))
    counted = sum(c.counts["failed"] for c in sink.of_type(ProbeCounts) if c.probe == "exec")
    assert counted >= N + 3


def offered_steps(kernel_features) -> list[PlanStep]:
    """Every step of the exec plan this kernel offers (the first is the one in use)."""
    return [step for step in ExecProbe.plan if step.unavailable_reason(kernel_features) is None]


def test_status_names_the_attach_point(engine_for, kernel_features) -> None:
    engine, sink = engine_for("exec")
    engine.stop()
    states = [(s.state, s.via) for s in sink.of_type(ProbeStatus)]
    via = offered_steps(kernel_features)[0].via
    assert states == [("attaching", via), ("attached", via), ("detached", None)]


# Runs "OK FAILED" rounds read from stdin: OK execs of /bin/true TOKEN I, then FAILED
# execs of a missing path, each from a child of this shell. A pid filter on the shell
# then keeps exactly these execs, so the kernel's counts can be checked exactly.
WORKLOAD = """
while read ok failed; do
  i=0; while [ $i -lt $ok ]; do /bin/true "$1" $i; i=$((i+1)); done
  i=0; while [ $i -lt $failed ]; do "$2" "$1" 2>/dev/null; i=$((i+1)); done
  echo done
done
"""


class ExecWorkload:
    def __init__(self) -> None:
        self.token = f"bpftop-test-{uuid.uuid4().hex}"
        self.missing = f"/nonexistent/bpftop-{uuid.uuid4().hex}"
        self.proc = subprocess.Popen(
            ["/bin/sh", "-c", WORKLOAD, "sh", self.token, self.missing],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        self.filter = Filter(pid=self.proc.pid)

    def run(self, ok: int, failed: int) -> None:
        assert self.proc.stdin and self.proc.stdout
        self.proc.stdin.write(f"{ok} {failed}\n")
        self.proc.stdin.flush()
        assert self.proc.stdout.readline() == "done\n"

    def close(self) -> None:
        assert self.proc.stdin
        self.proc.stdin.close()
        self.proc.wait(10)


@pytest.fixture
def workload() -> Iterator[ExecWorkload]:
    w = ExecWorkload()
    yield w
    w.close()


def test_every_step_this_kernel_offers_counts_execs_and_failures_exactly(
    engine_for, kernel_features, monkeypatch
) -> None:
    """Each way of attaching, forced in turn; with a pid filter (which keeps this
    process's children) the kernel's counts are exact, not just at least ours."""
    steps = offered_steps(kernel_features)
    # sched_process_exec with fexit, kprobes or the shared sys_exit; the syscall
    # tracepoints on every kernel.
    assert steps[-1] is SYSCALL_STEP and len(steps) >= 2
    for step in steps:
        monkeypatch.setattr(ExecProbe, "plan", (step,))
        check_exact_counts(engine_for, step)


def check_exact_counts(engine_for, step: PlanStep) -> None:
    work = ExecWorkload()
    engine, sink = engine_for("exec", prepare=lambda e: e.submit(SetFilter(work.filter)))
    token, missing = work.token, work.missing
    work.run(25, 15)
    work.close()

    def mine() -> list[ExecRecord]:
        return [r for r in sink.of_type(ExecRecord) if token in r.argv]

    assert sink.wait_for(lambda: len(mine()) >= 40), step.via
    sink.settle("exec")  # two more intervals: every count is in
    engine.stop()
    records = mine()
    ok = [r for r in records if r.ret == 0]
    failed = [r for r in records if r.ret != 0]
    assert len(ok) == 25 and len(failed) == 15, step.via
    assert sorted(int(r.argv[2]) for r in ok) == list(range(25))
    assert all(r.argv == (missing, token) and r.error == "ENOENT" for r in failed)
    assert all(r.filename == missing and r.ppid == work.proc.pid for r in failed)
    assert all(r.ppid == work.proc.pid for r in ok)
    counts = [c for c in sink.of_type(ProbeCounts) if c.probe == "exec"]
    assert sum(c.counts["ok"] for c in counts) == 25, step.via
    assert sum(c.counts["failed"] for c in counts) == 15, step.via
    assert sum(c.lost for c in counts) == 0
    via = [s.via for s in sink.of_type(ProbeStatus) if s.state == "attached"]
    assert via == [step.via]


def test_turning_failure_capture_off_detaches_its_hook_and_on_brings_it_back(
    engine_for, kernel_features, workload
) -> None:
    """With failures off nothing but sched_process_exec runs (no sys_exit program
    from bpftop); on again, failures are exact again and the status says so. Where an
    fexit program cannot be attached again (5.10), failures stay on, and the notice and
    the counts say so."""
    step = offered_steps(kernel_features)[0]
    if step is FEXIT_STEP and not tracing_programs_reattach():
        failures_stay_on_where_fexit_cannot_attach_again(engine_for, workload)
        return
    before = attached_sys_exit_programs()
    engine, sink = engine_for(
        "exec",
        prepare=lambda e: (
            e.submit(SetFilter(workload.filter)),
            e.submit(SetExecFailures(False)),
        ),
    )
    step = offered_steps(kernel_features)[0]
    assert step is not SYSCALL_STEP
    assert attached_sys_exit_programs() == before
    assert attached_names(engine, "exec") == SUCCESS_PROGRAMS
    (attached,) = [s for s in sink.of_type(ProbeStatus) if s.state == "attached"]
    assert attached.via == "tracepoint:sched:sched_process_exec (failed execs off)"
    assert attached.code == EXEC_FAILURES_OFF
    token = workload.token
    workload.run(5, 7)
    assert sink.wait_for(lambda: sum(token in r.argv for r in sink.of_type(ExecRecord)) >= 5)

    engine.submit(SetExecFailures(True))
    assert sink.wait_for(
        lambda: [s.via for s in sink.of_type(ProbeStatus) if s.state == "attached"][-1] == step.via
    )
    assert attached_names(engine, "exec") == sorted(SUCCESS_PROGRAMS + FAILURE_PROGRAMS[step.via])
    workload.run(0, 9)
    assert sink.wait_for(lambda: sum(token in r.argv for r in sink.of_type(ExecRecord)) >= 14)
    sink.settle("exec")
    engine.stop()
    records = [r for r in sink.of_type(ExecRecord) if token in r.argv]
    assert sum(r.ret == 0 for r in records) == 5
    assert sum(r.error == "ENOENT" for r in records) == 9  # the 7 while off are not seen
    counts = [c for c in sink.of_type(ProbeCounts) if c.probe == "exec"]
    assert sum(c.counts["failed"] for c in counts) == 9
    assert sum(c.counts["ok"] for c in counts) == 5
    assert wait_for_count(attached_sys_exit_programs, before)


def failures_stay_on_where_fexit_cannot_attach_again(engine_for, workload) -> None:
    engine, sink = engine_for(
        "exec",
        prepare=lambda e: (e.submit(SetFilter(workload.filter)), e.submit(SetExecFailures(False))),
    )
    (attached,) = [s for s in sink.of_type(ProbeStatus) if s.state == "attached"]
    assert (attached.via, attached.reason) == (
        FEXIT_STEP.via,
        "failed execs stay on: this kernel cannot attach fexit again",
    )
    assert attached_names(engine, "exec") == sorted(
        SUCCESS_PROGRAMS + FAILURE_PROGRAMS[FEXIT_STEP.via]
    )
    workload.run(5, 7)
    token = workload.token
    assert sink.wait_for(lambda: sum(token in r.argv for r in sink.of_type(ExecRecord)) >= 12)
    engine.stop()
    counts = [c for c in sink.of_type(ProbeCounts) if c.probe == "exec"]
    assert (sum(c.counts["ok"] for c in counts), sum(c.counts["failed"] for c in counts)) == (5, 7)


def wait_for_count(count: Callable[[], int], expected: int, timeout: float = 10) -> bool:
    return wait_until(lambda: count() == expected, timeout)


REFUSED_COMM = "bpftop-refused"


def name_child() -> None:
    """In the forked child, before its exec: a comm the test can filter on."""
    ctypes.CDLL(None).prctl(PR_SET_NAME, REFUSED_COMM.encode(), 0, 0, 0)


@pytest.fixture
def not_exec() -> Iterator[str]:
    """A file that exec refuses with EACCES (no x bit)."""
    path = f"/tmp/bpftop-noexec-{uuid.uuid4().hex}"
    with open(path, "w") as f:
        f.write("#!/bin/sh\n")
    yield path
    os.unlink(path)


def refuse(path: str, n: int) -> None:
    """`n` execs of `path` refused with EACCES, from children named REFUSED_COMM."""
    for _ in range(n):
        with pytest.raises(PermissionError):
            subprocess.run([path], preexec_fn=name_child)


def test_execs_and_denials_share_one_sys_exit_program(
    engine_for, kernel_features, not_exec
) -> None:
    """A box pays for one every-syscall hook at most: where failed execs come from
    syscall tracepoints, they move onto the denials probe's sys_exit program while it
    runs, and back when it goes. An exec refused with EACCES is both a failed exec and
    a denial; counts stay exact across the moves."""
    before = attached_sys_exit_programs()
    step = offered_steps(kernel_features)[0]
    moves = step is SYS_EXIT_STEP
    own = sorted(SUCCESS_PROGRAMS + FAILURE_PROGRAMS[step.via])
    # Only the refused execs' children pass (their comm, set before the exec), so
    # the counts of both probes are exact.
    engine, sink = engine_for(
        "exec", "denials", prepare=lambda e: e.submit(SetFilter(Filter(comm=REFUSED_COMM)))
    )
    assert attached_sys_exit_programs() == before + 1
    exec_via = [s.via for s in sink.of_type(ProbeStatus) if s.probe == "exec"]
    if moves:  # exec attached first, then moved onto the denials probe's program
        assert exec_via == [step.via, step.via, SHARED_VIA]
        # exec.c's exec and fork, and the shared program's own fork hook
        assert attached_names(engine, "exec") == sorted([*SUCCESS_PROGRAMS, SUCCESS_PROGRAMS[1]])
        assert map_names_of(probe_program_ids(engine, "denials")) >= EXEC_PART_MAPS
    else:
        assert exec_via == [step.via, step.via]
        assert attached_names(engine, "exec") == own

    def failed() -> list[ExecRecord]:
        return [r for r in sink.of_type(ExecRecord) if r.filename == not_exec]

    def denied() -> list[DenialRecord]:
        return [r for r in sink.of_type(DenialRecord) if r.path == not_exec]

    refuse(not_exec, 6)
    assert sink.wait_for(lambda: len(failed()) >= 6 and len(denied()) >= 6)
    assert len(failed()) == 6 and all(r.error == "EACCES" for r in failed())
    assert len(denied()) == 6 and all(r.syscall == "execve" for r in denied())

    engine.submit(Enable("denials", False))
    assert sink.wait_for(lambda: any(
        s.probe == "denials" and s.state == "detached" for s in sink.of_type(ProbeStatus)
    ))  # fmt: skip
    assert wait_for_count(attached_sys_exit_programs, before)
    assert attached_names(engine, "exec") == own
    refuse(not_exec, 4)
    assert sink.wait_for(lambda: len(failed()) >= 10)

    engine.submit(Enable("denials", True))
    assert sink.wait_for(lambda: sum(
        s.probe == "denials" and s.state == "attached" for s in sink.of_type(ProbeStatus)
    ) == 2)  # fmt: skip
    refuse(not_exec, 5)
    assert sink.wait_for(lambda: len(failed()) >= 15 and len(denied()) >= 11)
    sink.settle("exec")  # the last counts
    engine.stop()
    assert len(failed()) == 15 and len(denied()) == 11
    exec_via = [s.via for s in sink.of_type(ProbeStatus) if s.probe == "exec"]
    if moves:
        assert exec_via[-3:] == [step.via, SHARED_VIA, None]  # moved off, back on, detached
    counts = [c for c in sink.of_type(ProbeCounts) if c.probe == "exec"]
    assert sum(c.counts["failed"] for c in counts) == 15
    assert sum(c.counts["ok"] for c in counts) == 0
    denials = [c for c in sink.of_type(ProbeCounts) if c.probe == "denials"]
    assert sum(c.counts["denials"] for c in denials) == 11
    assert wait_for_count(attached_sys_exit_programs, before)


EXEC_PART_MAPS = {"exec_part", "exec_counters", "exec_scratch", "exec_events"}  # denials.c


def test_where_exec_never_joins_the_shared_program_carries_no_exec_part(
    engine_for, monkeypatch, not_exec
) -> None:
    """The denials program compiles its exec part in only where the exec plan takes the
    syscall exit tracepoints; elsewhere failed execs stay on exec.c, exact."""
    monkeypatch.setattr(ExecProbe, "plan", (SYSCALL_STEP,))  # loads on every kernel
    engine, sink = engine_for(
        "exec", "denials", prepare=lambda e: e.submit(SetFilter(Filter(comm=REFUSED_COMM)))
    )
    denial_maps = map_names_of(probe_program_ids(engine, "denials"))
    assert "groups" in denial_maps and not EXEC_PART_MAPS & denial_maps
    assert [s.via for s in sink.of_type(ProbeStatus) if s.probe == "exec"][-1] == SYSCALL_STEP.via
    refuse(not_exec, 4)

    def failed() -> list[ExecRecord]:
        return [r for r in sink.of_type(ExecRecord) if r.filename == not_exec]

    def denied() -> list[DenialRecord]:
        return [r for r in sink.of_type(DenialRecord) if r.path == not_exec]

    assert sink.wait_for(lambda: len(failed()) >= 4 and len(denied()) >= 4)
    sink.settle("exec")  # the last counts
    engine.stop()
    assert len(failed()) == 4 and len(denied()) == 4
    counts = [c for c in sink.of_type(ProbeCounts) if c.probe == "exec"]
    assert sum(c.counts["failed"] for c in counts) == 4


def path_lookup(tmp_path: Path, then: str = ":") -> tuple[str, list[Path], subprocess.Popen[str]]:
    """A shell that, once told `go`, runs `env NAME` with NAME only in the third of three
    PATH directories (env's execvp fails twice with ENOENT, then runs it), then `then`,
    and waits for `end`."""
    name = f"pathprobe-{uuid.uuid4().hex[:8]}"
    dirs = [tmp_path / d for d in ("first", "second", "third")]
    for d in dirs:
        d.mkdir()
    (dirs[2] / name).write_bytes(Path("/bin/true").read_bytes())
    (dirs[2] / name).chmod(0o755)
    work = subprocess.Popen(
        ["/bin/sh", "-c", f'read go; /usr/bin/env PATH="$1" "$2" x; {then}; read end',
         "sh", ":".join(map(str, dirs)), name],
        stdin=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    return name, dirs, work


@pytest.mark.parametrize("probes", [("exec",), ("exec", "denials")])
def test_a_path_lookup_is_one_exec_and_no_failure(engine_for, tmp_path, probes) -> None:
    """`env NAME` with NAME in the third PATH directory: env's execvp fails twice
    (ENOENT), then runs it. That is one exec that tried three paths, not two failures.
    With the denials probe on, failures may come from its ring buffer (shared)."""
    name, dirs, work = path_lookup(tmp_path)
    engine, sink = engine_for(*probes, prepare=lambda e: e.submit(SetFilter(Filter(pid=work.pid))))
    assert work.stdin is not None
    work.stdin.write("go\n")
    work.stdin.flush()

    def named() -> list[ExecRecord]:
        return [r for r in sink.of_type(ExecRecord) if r.argv[:1] == (name,)]

    assert sink.wait_for(lambda: len(named()) >= 1)
    sink.settle("exec")  # past the hold, and two more intervals: every count is in
    work.stdin.write("end\n")
    work.stdin.close()
    work.wait(10)
    engine.stop()
    runs = named()
    assert len(runs) == 1 and runs[0].ret == 0 and runs[0].path_tries == 2, runs
    assert runs[0].filename == str(dirs[2] / name)
    counts = [c for c in sink.of_type(ProbeCounts) if c.probe == "exec"]
    assert sum(c.counts["failed"] for c in counts) == 0
    assert sum(c.counts["ok"] for c in counts) == 2  # env, then the program
    # No interval counted a failure, not even one taken back later.
    assert [c.counts["failed"] for c in counts] == [0] * len(counts)


def test_result_failed_in_the_kernel_still_folds_a_path_lookup(engine_for, tmp_path) -> None:
    """result=failed is tested in the kernel on failures; the lookup's success is still
    sent (and dropped in user space), so its two tries are folded, not failures."""
    _name, _dirs, work = path_lookup(tmp_path, then="/nonexistent/bpftop-x")
    user_filter = Filter(pid=work.pid, result="failed")
    engine, sink = engine_for("exec", prepare=lambda e: e.submit(SetFilter(user_filter)))
    assert work.stdin is not None
    work.stdin.write("go\n")
    work.stdin.flush()
    # The one real failure (sh's ENOENT) comes after the lookup: once it is in, so is all.
    assert sink.wait_for(lambda: any(r.error for r in sink.of_type(ExecRecord)))
    sink.settle("exec")  # past the hold, and two more intervals: every count is in
    work.stdin.write("end\n")
    work.stdin.close()
    work.wait(10)
    engine.stop()
    assert [r.filename for r in sink.of_type(ExecRecord)] == ["/nonexistent/bpftop-x"]
    counts = [c for c in sink.of_type(ProbeCounts) if c.probe == "exec"]
    assert sum(c.counts["failed"] for c in counts) == 1
    assert sum(c.counts["ok"] for c in counts) == 0


def test_a_failed_lookup_is_every_try_a_failure(engine_for, tmp_path) -> None:
    """No directory has it: every try stays a failure, shown after the hold."""
    name = f"nowhere-{uuid.uuid4().hex[:8]}"
    dirs = [tmp_path / d for d in ("a", "b")]
    for d in dirs:
        d.mkdir()
    work = subprocess.Popen(
        ["/bin/sh", "-c", 'read go; /usr/bin/env PATH="$1" "$2" 2>/dev/null; read end',
         "sh", ":".join(map(str, dirs)), name],
        stdin=subprocess.PIPE, text=True,
    )  # fmt: skip
    engine, sink = engine_for("exec", prepare=lambda e: e.submit(SetFilter(Filter(pid=work.pid))))
    assert work.stdin is not None
    work.stdin.write("go\n")
    work.stdin.flush()

    def tries() -> list[ExecRecord]:
        return [r for r in sink.of_type(ExecRecord) if r.argv[:1] == (name,)]

    assert sink.wait_for(lambda: len(tries()) >= 2)
    sink.settle("exec")
    work.stdin.write("end\n")
    work.stdin.close()
    work.wait(10)
    engine.stop()
    assert sorted(r.filename for r in tries()) == sorted(str(d / name) for d in dirs)
    assert all(r.error == "ENOENT" for r in tries())
    counts = [c for c in sink.of_type(ProbeCounts) if c.probe == "exec"]
    assert sum(c.counts["failed"] for c in counts) == 2
