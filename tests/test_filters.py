"""The filter language: parsing, one-line errors, and what `keeps()` lets through."""

from __future__ import annotations

import dataclasses
import os
import threading

import pytest

from bpftop.core.filters import Filter, FilterError, parse_filter
from bpftop.core.records import (
    ConnectRecord,
    DenialGroupRecord,
    DiskRecord,
    ExecRecord,
    SlowIoRecord,
)


def _thread_id() -> int:
    """A live thread of this process that is not its main thread."""
    ready, done = threading.Event(), threading.Event()
    found: list[int] = []

    def run() -> None:
        found.append(threading.get_native_id())
        ready.set()
        done.wait()

    threading.Thread(target=run, daemon=True).start()
    ready.wait()
    return found[0]


def test_a_thread_id_names_its_process() -> None:
    tid = _thread_id()
    with pytest.raises(FilterError, match=f"{tid} is a thread of process {os.getpid()}"):
        parse_filter(f"pid={tid}")


def _exec(pid: int, ppid: int | None, comm: str, uid: int = 0) -> ExecRecord:
    return ExecRecord(1.0, pid, ppid, uid, comm, (comm,), 0)


def _conn(pid: int | None, sport: int, dport: int, latency: float | None) -> ConnectRecord:
    return ConnectRecord(
        1.0, pid, "curl" if pid else None, 0 if pid else None, "out", 4,
        "127.0.0.1", sport, "127.0.0.1", dport, latency, "established",
    )  # fmt: skip


def test_empty_text_is_no_filter() -> None:
    assert parse_filter("  ").empty and parse_filter("").keeps(_exec(1, 1, "x"))


def test_terms_combine_and_normalise() -> None:
    f = parse_filter(f"  pid={os.getpid()}   comm=py*  user=root port=443 lat>=2.5ms ")
    assert (f.pid, f.comm, f.uid, f.port, f.min_latency_us) == (os.getpid(), "py*", 0, 443, 2500)
    assert f.text == f"pid={os.getpid()} comm=py* user=root port=443 lat>=2.5ms"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("pid=abc", "pid must be a number"),
        ("pid=4194300", "no process with pid 4194300"),
        ("nonsense", "bad filter term 'nonsense'"),
        ("comm=a comm=b", "comm given twice"),
        ("user=root uid=0", "uid given twice"),
        ("user=no_such_user_here", "no user named"),
        ("port=70000", "port must be a number from 1 to 65535"),
        ("lat>fast", "latency must look like"),
        ("dev=nosuchdev0", "no block device or network interface"),
        ("comm=averyveryverylongname", "longer than the kernel's 15"),
        ("container=ab", "at least 4 characters"),
        ("result=maybe", "result must be one of ok, failed, refused"),
        ("errno=ENOTATHING", "no errno named 'ENOTATHING'"),
    ],
)
def test_bad_terms_are_one_line(text: str, message: str) -> None:
    with pytest.raises(FilterError, match=message) as err:
        parse_filter(text)
    assert "\n" not in str(err.value)


def test_kernel_gets_the_literal_head_of_a_glob() -> None:
    assert Filter(comm="nginx").comm_head() == b"nginx\0"  # exact: the NUL too
    assert Filter(comm="ngin*x").comm_head() == b"ngin"
    assert Filter(comm="*x").comm_head() == b""
    fields = Filter(comm="py*", uid=0, min_latency_us=1.5).kernel_fields()
    assert (fields["comm_len"], fields["uid_set"], fields["min_lat_ns"]) == (2, 1, 1500)


def test_pid_keeps_the_process_and_its_children_execs() -> None:
    f = Filter(pid=10)
    assert f.keeps(_exec(10, 1, "a")) and f.keeps(_exec(11, 10, "b"))
    assert not f.keeps(_exec(12, 11, "c"))
    assert not f.keeps(_conn(None, 1, 2, None))  # unknown pid never passes a task filter


def test_glob_tail_and_records_without_pid() -> None:
    f = Filter(comm="ng*x")
    assert f.keeps(_exec(1, 1, "nginx")) and not f.keeps(_exec(1, 1, "ngin"))
    group = DenialGroupRecord(1.0, 1.0, "nginx", 0, "open", "EACCES", 3)
    assert f.keeps(group)  # no pid field: the kernel tested the pid
    assert not Filter(comm="sshd").keeps(group)


def test_port_latency_and_devices() -> None:
    f = Filter(port=443, min_latency_us=1000)
    assert f.keeps(_conn(5, 5000, 443, 1500.0))
    assert not f.keeps(_conn(5, 5000, 443, 10.0)) and not f.keeps(_conn(5, 5000, 80, 1500.0))
    disk = DiskRecord(1.0, "sda", 1.0, 1, 0, 4096, 0)
    assert Filter(disk="sda").keeps(disk) and not Filter(disk="vdb").keeps(disk)
    assert Filter(interface="eth0").keeps(disk)  # an interface filter leaves disks alone
    slow = SlowIoRecord(1.0, "sda", 1, "x", "read", 4096, 0, 800.0, None)
    assert not Filter(min_latency_us=1000).keeps(slow)


def test_result_and_errno_keep_outcomes_and_leave_the_other_panes_alone() -> None:
    ok = ExecRecord(1.0, 7, 1, 0, "cat", ("cat",), 0, "/bin/cat")
    missing = ExecRecord(1.0, 8, 1, 0, "sh", ("foo",), -2, "/nonexistent/foo")
    refused = dataclasses.replace(_conn(5, 5000, 5999, 90.0), result="refused")
    established = _conn(5, 5000, 443, 90.0)
    denied = DenialGroupRecord(1.0, 1.0, "app", 1001, "openat", "EACCES", 3)
    disk = DiskRecord(1.0, "sda", 1.0, 1, 0, 4096, 0)
    failed = parse_filter("result=failed")
    assert [failed.keeps(r) for r in (ok, missing, refused, established, denied, disk)] == [
        False, True, True, False, True, True,
    ]  # fmt: skip
    assert parse_filter("result=ok").keeps(established) and not parse_filter("result=ok").keeps(
        denied
    )
    only_refused = parse_filter("result=refused")
    assert only_refused.keeps(refused) and not only_refused.keeps(missing)
    enoent = parse_filter("errno=enoent")
    assert enoent.errno == "ENOENT" and enoent.keeps(missing) and not enoent.keeps(ok)
    assert not enoent.keeps(denied) and enoent.keeps(disk)
    assert parse_filter("errno=ECONNREFUSED").keeps(refused)
    assert parse_filter("result=failed errno=EACCES").keeps(denied)
