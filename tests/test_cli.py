"""The command as a user runs it: headless JSON, signals, and one-line errors."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from bpftop.probes.connect_probe import ConnectProbe
from tests.helpers.bpftool import bpftop_program_ids, wait_until_gone
from tests.helpers.cli import (
    BPFTOP,
    ROOT,
    attached,
    read_until,
    record,
    run,
    start_json,
    world_can_run_from_here,
)
from tests.helpers.timing import SLOWDOWN


@pytest.mark.parametrize(
    "args",
    [["--probes", "nosuch"], ["--duration", "abc"], ["--duration", "-1"], ["--bogus"]],
)
def test_bad_arguments_are_one_clean_error(args: list[str]) -> None:
    result = run("--json", *args)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("bpftop: error:")


@pytest.mark.parametrize("who", ["nobody", "root-without-capabilities"])
def test_not_root_says_how_to_run_it(who: str) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to drop privileges")
    if who == "nobody":
        if not world_can_run_from_here():
            pytest.skip("checkout not reachable by uid 65534; covered by the no-capability case")
        drop = ["--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all"]
    else:
        drop = ["--bounding-set=-all", "--inh-caps=-all"]
    result = subprocess.run(
        ["setpriv", *drop, *BPFTOP, "--json"],
        capture_output=True, text=True, timeout=60, cwd=ROOT,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.strip() == (
        "bpftop: bpftop needs root (CAP_BPF and CAP_PERFMON): run it as `sudo bpftop`"
    )


def test_tui_without_terminal_points_to_json() -> None:
    result = run(stdin=subprocess.DEVNULL)
    assert result.returncode == 2
    assert "use --json" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.bpf
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
def test_json_streams_records_and_exits_clean_on_signal(kernel_features, sig) -> None:
    before = bpftop_program_ids()
    proc = start_json("--probes", "exec,connect")
    lines = read_until(proc, attached({"exec", "connect"}))
    token = uuid.uuid4().hex
    for _ in range(10):
        subprocess.run(["/bin/true", token], check=True)
    lines += read_until(
        proc, lambda ls: sum(1 for r in ls if r["type"] == "exec" and token in r["argv"]) == 10
    )
    proc.send_signal(sig)
    # Not communicate(): it reads the pipes' fds directly and would skip what readline()
    # already buffered, starting mid-line (seen once as a JSONDecodeError).
    proc.wait(timeout=30)
    assert proc.stdout is not None and proc.stderr is not None
    out, err = proc.stdout.read(), proc.stderr.read()
    lines += [record(line) for line in out.splitlines()]
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    detached = {r["probe"] for r in lines if r["type"] == "status" and r["state"] == "detached"}
    assert detached == {"exec", "connect"}
    execs = [r for r in lines if r["type"] == "exec" and token in r["argv"]]
    assert len(execs) == 10
    assert set(execs[0]) >= {"ts", "pid", "ppid", "uid", "comm", "argv", "ret"}
    assert all(r["ret"] == 0 and "error" not in r for r in execs)
    counts = [r for r in lines if r["type"] == "counts"]
    # The kernel counted the ten (and whatever else the box ran meanwhile), the last
    # interval's counts written before the exit.
    assert sum(r["counts"]["ok"] for r in counts if r["probe"] == "exec") >= 10
    assert wait_until_gone(bpftop_program_ids() - before) == set()


@pytest.mark.bpf
def test_duration_exits_zero_and_sigkill_leaves_nothing(kernel_features) -> None:
    result = run("--json", "--probes", "exec", "--duration", "1")
    assert result.returncode == 0, result.stderr
    records = [record(line) for line in result.stdout.splitlines()]
    states = [r["state"] for r in records if r["type"] == "status"]
    assert states == ["attaching", "attached", "detached"]

    before = bpftop_program_ids()
    proc = start_json("--probes", "exec,connect")
    read_until(proc, attached({"exec", "connect"}))
    ours = bpftop_program_ids() - before
    # exec.c: sched_process_exec, _fork and two failure hooks; connect.c: three
    assert len(ours) == 7
    proc.kill()
    proc.wait(timeout=10)
    assert wait_until_gone(ours) == set()


@pytest.mark.bpf
def test_missing_tracepoint_makes_one_probe_unavailable(kernel_features) -> None:
    env = {**os.environ, "BPFTOP_HIDE_TRACEPOINTS": "sock:inet_sock_set_state"}
    result = run("--json", "--duration", "1", env=env)
    assert result.returncode == 0, result.stderr
    status = [record(line) for line in result.stdout.splitlines()]
    status = [r for r in status if r["type"] == "status"]
    connect = [r for r in status if r["probe"] == "connect"]
    hidden = dataclasses.replace(
        kernel_features, hidden_tracepoints=frozenset({"sock:inet_sock_set_state"})
    )
    assert connect == [
        {
            "type": "status",
            "probe": "connect",
            "state": "unavailable",
            "reason": "no usable attach point",
            # Every step needs the tracepoint; the richer ones may lack more here.
            "skipped": {step.via: step.unavailable_reason(hidden) for step in ConnectProbe.plan},
            "ts": connect[0]["ts"],
        }
    ]
    # A second "attached" where exec's failures move onto the denials probe's program.
    exec_states = [r["state"] for r in status if r["probe"] == "exec"]
    assert exec_states[:2] == ["attaching", "attached"] and exec_states[-1] == "detached"
    assert set(exec_states[2:-1]) <= {"attached"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--pid", "abc"], "pid must be a number"),
        (["--pid", "4194000"], "no process with pid 4194000"),
        (["--comm", "a_very_long_name_x"], "longer than the kernel's 15"),
        (["--filter", "bogus"], "bad filter term 'bogus'"),
        (["--filter", "port=1 port=2"], "port given twice"),
        (["--port", "0"], "port must be a number from 1 to 65535"),
        (["--dev", "nosuchdev0"], "no block device or network interface named"),
        (["--lat", "fast"], "latency must look like"),
        (["--user", "no_such_user_x"], "no user named"),
        (["--container", "deadbeefcafe"], "no cgroup"),
        (["--comm", "two words"], "needs one value without spaces"),
    ],
)
def test_bad_filters_are_one_line_and_attach_nothing(args: list[str], message: str) -> None:
    before = bpftop_program_ids()
    result = run("--json", *args)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and message in result.stderr, result.stderr
    assert bpftop_program_ids() - before == set()


@pytest.mark.bpf
def test_no_tracefs_is_one_line_and_leaves_nothing(kernel_features) -> None:
    """tracefs unmounted in a private mount namespace (the host keeps its own)."""
    # debugfs goes too: it would mount tracefs again on access (debug/tracing automounts).
    hide = (
        "for m in /sys/kernel/debug/tracing /sys/kernel/debug /sys/kernel/tracing;"
        ' do umount "$m" 2>/dev/null; done; exec "$@"'
    )
    before = bpftop_program_ids()
    result = subprocess.run(
        ["unshare", "--mount", "sh", "-c", hide, "sh", *BPFTOP, "--json", "--duration", "5"],
        capture_output=True, text=True, timeout=60, cwd=ROOT,
    )  # fmt: skip
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr == (
        "bpftop: tracefs is not mounted: run `mount -t tracefs nodev /sys/kernel/tracing`\n"
    )
    assert bpftop_program_ids() - before == set()
    assert Path("/sys/kernel/tracing/events").is_dir()  # the host's tracefs is untouched


@pytest.mark.bpf
def test_check_names_each_probes_step_fast_and_attaches_nothing(kernel_features) -> None:
    from bpftop.catalog import PROBE_CLASSES

    before = bpftop_program_ids()
    started = time.monotonic()
    result = run("--check")
    took = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    assert took < 3.0 * SLOWDOWN  # under a second of its own; the rest is starting Python
    lines = result.stdout.splitlines()
    for cls in PROBE_CLASSES:
        step, _skipped = cls.plan_for(kernel_features)
        assert step is not None
        [line] = [ln for ln in lines if ln.split()[0] == cls.name]
        assert line.split(None, 1)[1].startswith(step.via)
    assert lines[0].startswith(f"kernel {kernel_features.release}: lockdown ")
    report = json.loads(run("--check", "--json").stdout)
    assert {p["probe"]: p["via"] for p in report["probes"]} == {
        cls.name: step.via if (step := cls.plan_for(kernel_features)[0]) else None
        for cls in PROBE_CLASSES
    }
    assert all(report["tracepoints"].values()) == all(
        kernel_features.has_tracepoint(tp) for tp in report["tracepoints"]
    )
    assert bpftop_program_ids() - before == set()  # none of bpftop's programs was loaded


@pytest.mark.bpf
def test_check_exits_1_when_a_probe_has_no_step(kernel_features) -> None:
    env = {**os.environ, "BPFTOP_HIDE_TRACEPOINTS": "sock:inet_sock_set_state"}
    result = run("--check", env=env)
    assert result.returncode == 1
    [line] = [ln for ln in result.stdout.splitlines() if ln.startswith("connect ")]
    assert "UNAVAILABLE" in line and "missing tracepoint sock:inet_sock_set_state" in line
    report = json.loads(run("--check", "--json", env=env).stdout)
    assert [p["via"] for p in report["probes"] if p["probe"] == "connect"] == [None]
