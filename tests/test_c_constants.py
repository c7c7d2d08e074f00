"""The numbers C and Python share agree: each program's counter enum is its probe's
`counter_names`, config slots, ops, results, outcome bits and sizes are the same on both
sides. Reads the sources as text: no root, no compiler (libbpf-tools share one .h
between program and loader; bcc's programs and Python cannot, so this test holds them)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bpftop.core.filters import OUTCOME_BITS
from bpftop.core.records import CONNECT_RESULTS
from bpftop.probes import cpu_probe, disk_probe, exec_probe, uprobe_probe, xdp_counter, xdp_probe
from bpftop.probes.connect_probe import ConnectProbe
from bpftop.probes.cpu_probe import CpuProbe
from bpftop.probes.denial_probe import DenialProbe
from bpftop.probes.disk_probe import DiskProbe
from bpftop.probes.exec_probe import ExecProbe
from bpftop.probes.syscall_probe import SyscallProbe
from bpftop.probes.uprobe_probe import UprobeProbe

BPF = Path(__file__).resolve().parent.parent / "bpf"


def enum(file: str, name: str) -> dict[str, int]:
    """NAME -> value of `enum name { ... }` in bpf/`file` (every member has its value)."""
    body = re.search(rf"enum {name} \{{(.*?)\}};", (BPF / file).read_text(), re.S)
    assert body, f"no enum {name} in {file}"
    members = re.findall(r"^\s*(\w+) = (\d+),", body.group(1), re.M)
    return {member: int(value) for member, value in members}


def defines(file: str) -> dict[str, int]:
    """#define NAME NUMBER lines of bpf/`file`."""
    found = re.findall(r"^#define (\w+) (0x[0-9a-fA-F]+|\d+)\b", (BPF / file).read_text(), re.M)
    return {name: int(value, 0) for name, value in found}


def names_in_slot_order(members: dict[str, int], prefix: str, count: str) -> tuple[str, ...]:
    """The members but the count, in value order, as Python spells them: `EXEC_LOST` ->
    `lost`. The values run 0..N-1 without a gap and the count member is N."""
    slots = {m: v for m, v in members.items() if m != count}
    assert sorted(slots.values()) == list(range(len(slots))), members
    assert members[count] == len(slots), members
    return tuple(m.removeprefix(prefix).lower() for m in sorted(slots, key=slots.__getitem__))


@pytest.mark.parametrize(
    ("file", "enum_name", "prefix", "count", "python"),
    [
        ("exec.c", "exec_counter", "EXEC_", "EXEC_NR_COUNTERS", ExecProbe.counter_names),
        ("denials.c", "exec_failure_counter", "EXF_", "EXF_NR_COUNTERS",
         exec_probe.SHARED_COUNTER_NAMES),
        ("connect.c", "conn_counter", "CONN_", "CONN_NR_COUNTERS", ConnectProbe.counter_names),
        ("cpu.c", "cpu_counter", "CPU_", "CPU_NR_COUNTERS", CpuProbe.counter_names),
        ("denials.c", "denial_counter", "DEN_", "DEN_NR_COUNTERS", DenialProbe.counter_names),
        ("disk.c", "disk_counter", "DISK_", "DISK_NR_COUNTERS", DiskProbe.counter_names),
        ("syscalls.c", "syscall_counter", "SC_", "SC_NR_COUNTERS", SyscallProbe.counter_names),
        ("uprobes.c", "uprobe_counter", "UP_", "UP_NR_COUNTERS", UprobeProbe.counter_names),
        ("xdp_counter.c", "xdp_counter_slot", "CNT_", "CNT_NR", xdp_counter.COUNT_SLOTS),
        ("connect.c", "conn_result", "RESULT_", "", CONNECT_RESULTS),
    ],
)  # fmt: skip
def test_each_counter_enum_is_its_probes_slot_order(
    file: str, enum_name: str, prefix: str, count: str, python: tuple[str, ...]
) -> None:
    members = enum(file, enum_name)
    if not count:  # an enum of values, not of slots: no count member
        count = "_NR"
        members = {**members, count: len(members)}
    assert names_in_slot_order(members, prefix, count) == tuple(python)


def test_disk_config_slots_and_ops() -> None:
    config = enum("disk.c", "disk_config")
    assert config == {"CFG_SLOW_NS": disk_probe.CFG_SLOW_NS, "CFG_EPOCH": disk_probe.CFG_EPOCH,
                      "CFG_NR": 2}  # fmt: skip
    ops = {name: value for name, value in defines("disk.c").items() if name.startswith("OP_")}
    assert names_in_slot_order({**ops, "NR": len(ops)}, "OP_", "NR") == disk_probe.OPS


def test_outcome_bits() -> None:
    found = defines("bpftop.h").items()
    bits = {name.removeprefix("OUTCOME_").lower(): v for name, v in found if "OUTCOME_" in name}
    assert bits == OUTCOME_BITS


@pytest.mark.parametrize(
    ("file", "name", "python"),
    [
        ("cpu.c", "HIST_BUCKETS", cpu_probe.HIST_BUCKETS),
        ("uprobes.c", "UPROBE_SLOTS", uprobe_probe.UPROBE_SLOTS),
        ("uprobes.c", "LAT_BUCKETS", uprobe_probe.LAT_BUCKETS),
        ("xdp_counter.c", "MAX_RULES", xdp_counter.MAX_RULES),
        ("xdp.c", "FEXIT_TARGET", xdp_probe.FEXIT_TARGET),
        ("exec_event.h", "ARGV_MAX", exec_probe.ARGV_MAX),
        ("exec_event.h", "ARG_LEN", exec_probe.ARG_LEN),
    ],
)
def test_shared_sizes(file: str, name: str, python: int) -> None:
    assert defines(file)[name] == python


def test_every_source_has_its_spdx_line_and_one_count() -> None:
    """The SPDX line first; count(), where a program has one, the same three lines (it
    cannot live in a header: bpftop.h says why)."""
    bodies = set()
    for path in sorted(BPF.glob("*.[ch]")):
        text = path.read_text()
        assert text.startswith("// SPDX-License-Identifier: GPL-2.0 OR MIT\n"), path.name
        if m := re.search(r"static __always_inline void count\(u32 slot\)\n\{.*?\n\}", text, re.S):
            bodies.add(m.group(0))
    assert len(bodies) == 1, bodies
