"""The model: exact sums, rates from interval counts, plan choice, JSON shapes."""

from __future__ import annotations

import dataclasses

from bpftop.catalog import new_dashboard
from bpftop.core.records import (
    ConnectRecord,
    DenialRecord,
    DiskProcRecord,
    ExecRecord,
    ProbeCounts,
    ProbeStatus,
    errno_name,
)
from bpftop.host.kernel import KernelFeatures
from bpftop.model.connections import ConnectSnapshot
from bpftop.model.execs import ExecSnapshot
from bpftop.model.probe_state import ProbeState
from bpftop.model.rates import IntervalRate
from bpftop.probes.base import PlanStep, choose_step
from bpftop.screens.drilldown import pid_events

KERNEL = KernelFeatures(
    release="6.18",
    is_root=True,
    can_bpf=True,
    tracefs=None,
    lockdown="integrity",
    headers=None,
    prog_types=frozenset({"tracepoint", "raw_tracepoint"}),
    ringbuf=True,
    kprobes=False,
)


def exec_record(ts: float, pid: int, ret: int = 0) -> ExecRecord:
    return ExecRecord(ts, pid, 1, 0, "true", ("/bin/true", "x"), ret, "/bin/true")


def test_interval_rate_sums_exactly_and_rates_last_interval() -> None:
    rate = IntervalRate()
    for count in (10, 20, 30, 40):
        rate.add(count, 2.0)
    snap = rate.snapshot()
    assert snap.total == 100
    assert snap.per_second == 20.0


def test_dashboard_counts_come_from_kernel_counters_not_rows() -> None:
    dash = new_dashboard(("exec", "connect"))
    dash.apply(ProbeStatus(1.0, "exec", "attached", via="tracepoint:x"))
    dash.apply(exec_record(1.5, 10))  # one row shown...
    dash.apply(
        ProbeCounts(2.0, "exec", 1.0, {"ok": 900, "failed": 100}, lost=899, bpf_ns=5_000_000)
    )
    snap = dash.snapshot(2.0)
    assert len(snap.view("exec", ExecSnapshot).rows) == 1
    assert (
        snap.view("exec", ExecSnapshot).execs.total == 1000
    )  # ...but the exact count is the kernel's
    assert snap.view("exec", ExecSnapshot).failed.per_second == 100.0
    assert snap.probes["exec"].lost == 899
    assert snap.probes["exec"].bpf_cpu_percent == 0.5
    assert snap.attached_count == 1


def test_rows_are_bounded() -> None:
    dash = new_dashboard(("exec",))
    for i in range(2000):
        dash.apply(exec_record(float(i), i))
    rows = dash.snapshot(0).view("exec", ExecSnapshot).rows
    assert len(rows) == 500
    assert rows[-1].pid == 1999


def test_status_keeps_plan_and_describes_it() -> None:
    dash = new_dashboard(("connect",))
    skipped = (("fexit:tcp_v4_connect", "unavailable, lockdown=integrity"),)
    dash.apply(ProbeStatus(1.0, "connect", "attached", via="tracepoint:sock:x", skipped=skipped))
    text = dash.snapshot(1).probes["connect"].describe_plan()
    assert text == "via tracepoint:sock:x (fexit:tcp_v4_connect: unavailable, lockdown=integrity)"
    dash.apply(ProbeStatus(2.0, "connect", "unavailable", reason="missing tracepoint sock:x"))
    assert dash.snapshot(2).probes["connect"].describe_plan() == (
        "unavailable: missing tracepoint sock:x"
    )


def test_plan_skips_unusable_steps_with_reasons() -> None:
    plan = (
        PlanStep(via="fexit:tcp_v4_connect", prog_type="tracing"),
        PlanStep(via="kprobe:tcp_v4_connect", prog_type="kprobe"),
        PlanStep(via="raw_tracepoint:sys_exit", prog_type="raw_tracepoint"),
    )
    step, skipped = choose_step(plan, KERNEL)
    assert step is not None and step.via == "raw_tracepoint:sys_exit"
    assert skipped == (
        ("fexit:tcp_v4_connect", "unavailable, lockdown=integrity"),
        ("kprobe:tcp_v4_connect", "unavailable, CONFIG_KPROBES off"),
    )


def test_plan_reports_missing_tracepoint() -> None:
    kernel = dataclasses.replace(KERNEL, hidden_tracepoints=frozenset({"sock:inet_sock_set_state"}))
    step, skipped = choose_step(
        (
            PlanStep(
                via="tracepoint:sock:inet_sock_set_state", tracepoints=("sock:inet_sock_set_state",)
            ),
        ),
        kernel,
    )
    assert step is None
    assert skipped[0][1] == "missing tracepoint sock:inet_sock_set_state"


def test_json_shapes() -> None:
    failed = ExecRecord(1.0, 5, None, 1000, "sh", ("/nope",), -2, "/nope").to_json()
    assert failed["error"] == "ENOENT" and failed["ppid"] is None and failed["ret"] == -2
    assert "error" not in exec_record(1.0, 5).to_json()
    inbound = ConnectRecord(
        1.0, None, None, None, "in", 6, "::1", 80, "::1", 5555, None, "established"
    ).to_json()
    assert inbound["pid"] is None and inbound["direction"] == "in" and "state" not in inbound
    status = ProbeStatus(1.0, "exec", "unavailable", reason="r").to_json()
    assert status == {
        "type": "status",
        "probe": "exec",
        "state": "unavailable",
        "reason": "r",
        "ts": 1.0,
    }


def test_errno_names() -> None:
    assert errno_name(0) is None
    assert errno_name(-13) == "EACCES"
    assert errno_name(-9999) == "E9999"


def test_a_skipped_step_shows_only_what_it_adds_to_the_one_in_use() -> None:
    state = ProbeState(
        "denials",
        "attached",
        via="raw_tracepoint:sys_exit + tracepoint:capability:cap_capable",
        skipped=(
            ("raw_tracepoint:sys_exit + tracepoint:capability:cap_capable + fexit:LSM hooks",
             "unavailable, lockdown=integrity"),
            ("selinux: avc:selinux_audited", "SELinux off"),
        ),
    )  # fmt: skip
    assert state.describe_plan() == (
        "via raw_tracepoint:sys_exit + tracepoint:capability:cap_capable"
        " (fexit:LSM hooks: unavailable, lockdown=integrity; selinux: avc:selinux_audited:"
        " SELinux off)"
    )


def test_failure_groups_count_rate_per_interval_and_stay_bounded() -> None:
    from bpftop.model.groups import Groups

    groups: Groups[str, int] = Groups(keep=3)
    for n in range(4):
        groups.add("busy", n)
    groups.add("rare", 9)
    groups.close_interval(2.0)
    groups.add("busy", 10)  # counts toward the next interval's rate
    first, second = groups.snapshot()
    assert (first.key, first.total, first.per_second, first.last) == ("busy", 5, 2.0, 10)
    assert (second.key, second.total, second.per_second) == ("rare", 1, 0.5)
    groups.close_interval(1.0)  # "rare" is quiet now
    groups.add("a", 0)
    groups.add("b", 0)  # a 4th group: the smallest quiet one ("rare") is forgotten
    assert [g.key for g in groups.snapshot()] == ["busy", "a", "b"]
    groups.clear()
    assert groups.snapshot() == ()


def test_exec_and_connect_failures_group_by_path_errno_and_peer_result() -> None:
    board = new_dashboard(("exec", "connect"))
    board.apply(exec_record(1.0, 10, ret=-2))
    board.apply(exec_record(1.1, 11, ret=-2))
    board.apply(exec_record(1.2, 12, ret=0))
    refused = ConnectRecord(1.0, 5, "curl", 0, "out", 4, "10.0.0.1", 40000, "10.0.0.2", 5432,
                            None, "refused", "SYN_SENT")  # fmt: skip
    board.apply(refused)
    board.apply(dataclasses.replace(refused, result="established", state=None))
    # Inbound: grouped by the local service, whatever the client's port.
    reset_in = dataclasses.replace(refused, direction="in", sport=443, dport=51000, result="reset")
    board.apply(reset_in)
    board.apply(dataclasses.replace(reset_in, dport=51001))
    execs = board.snapshot(2.0).view("exec", ExecSnapshot).failures
    assert [(g.key, g.total, g.last.pid) for g in execs] == [(("/bin/true", "ENOENT"), 2, 11)]
    conns = {g.key: g.total for g in board.snapshot(2.0).view("connect", ConnectSnapshot).failures}
    assert conns == {("out", "10.0.0.2", 5432, 4, "refused"): 1,
                     ("in", "10.0.0.1", 443, 4, "reset"): 2}  # fmt: skip


def test_the_drilldown_events_come_from_every_pane_summaries_first_then_newest() -> None:
    """Each pane's snapshot gives its rows about the pid (PaneSnapshot.pid_events); the
    drilldown puts the disk's window summary first, then the events, newest first."""
    board = new_dashboard()
    board.apply(exec_record(10.0, 7))
    board.apply(exec_record(11.0, 99))  # another process: not its
    board.apply(ConnectRecord(12.0, 7, "app", 0, "out", 4, "10.0.0.1", 5000, "10.0.0.2", 80,
                              1500.0, "refused"))  # fmt: skip
    board.apply(DenialRecord(13.0, 7, "app", 0, "openat", "EACCES", "/etc/shadow", None,
                             "syscall", None))  # fmt: skip
    board.apply(DiskProcRecord(14.0, 7, "app", "vda", 1.0, 3, 1, 12288, 4096, 250.0))
    rows = pid_events(board.snapshot(15.0), 7)
    assert [kind for _when, kind, _detail in rows] == ["disk", "denied", "tcp", "exec"]
    assert rows[0][0] == "1s" and "vda reads 3 writes 1" in rows[0][2]
    assert "openat EACCES /etc/shadow" in rows[1][2] and "refused" in rows[2][2]
