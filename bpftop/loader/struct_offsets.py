"""Where the running kernel keeps the few struct fields the helper fallbacks read
(bpf/bpftop.h, NO_TASK_PT_REGS and NO_ANCESTOR_CGROUP_ID), as -D flags.

From the kernel's own BTF through libbpf, not from the headers bcc compiles with: those
may be another kernel's (this project's dev machine runs 6.18 with 6.1's headers), and a
wrong offset reads the wrong field without any error.
"""

from __future__ import annotations

import ctypes
import math
from functools import cache
from pathlib import Path

from bpftop.loader.libbpf import lib

BTF_KIND_STRUCT = 4
BTF_KIND_UNION = 5
MEMINFO = Path("/proc/meminfo")
LOADAVG = Path("/proc/loadavg")

# -D name: (struct, member), for the fallbacks in bpf/bpftop.h.
FIELDS = {
    "TASK_STACK_OFF": ("task_struct", "stack"),
    "TASK_CGROUPS_OFF": ("task_struct", "cgroups"),
    "CSS_SET_DFL_CGRP_OFF": ("css_set", "dfl_cgrp"),
    "CGROUP_LEVEL_OFF": ("cgroup", "level"),
    "CGROUP_KN_OFF": ("cgroup", "kn"),
    "CGROUP_SELF_OFF": ("cgroup", "self"),
    "CSS_PARENT_OFF": ("cgroup_subsys_state", "parent"),
    "KERNFS_NODE_ID_OFF": ("kernfs_node", "id"),
}


class _BtfType(ctypes.Structure):  # struct btf_type; its members follow it
    _fields_ = [("name_off", ctypes.c_uint32), ("info", ctypes.c_uint32),
                ("size", ctypes.c_uint32)]  # fmt: skip


class _BtfMember(ctypes.Structure):  # struct btf_member
    _fields_ = [("name_off", ctypes.c_uint32), ("type", ctypes.c_uint32),
                ("offset", ctypes.c_uint32)]  # fmt: skip


class StructOffsetError(Exception):
    """The kernel has no BTF, or a field moved where these fallbacks cannot follow."""


def _bpf() -> ctypes.CDLL:
    bpf = lib()
    bpf.btf__load_vmlinux_btf.restype = ctypes.c_void_p
    bpf.btf__free.argtypes = [ctypes.c_void_p]
    bpf.btf__find_by_name_kind.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_uint32]
    bpf.btf__type_by_id.argtypes = [ctypes.c_void_p, ctypes.c_uint32]
    bpf.btf__type_by_id.restype = ctypes.POINTER(_BtfType)
    bpf.btf__name_by_offset.argtypes = [ctypes.c_void_p, ctypes.c_uint32]
    bpf.btf__name_by_offset.restype = ctypes.c_char_p
    bpf.btf__resolve_type.argtypes = [ctypes.c_void_p, ctypes.c_uint32]
    return bpf


def _member_offset(bpf: ctypes.CDLL, btf: int, type_id: int, name: bytes) -> int | None:
    """Byte offset of `name` in the struct or union `type_id`, looking into anonymous
    members (fields kept in an unnamed union)."""
    struct = bpf.btf__type_by_id(btf, type_id).contents
    kind, vlen, bitfield = (struct.info >> 24) & 0x1F, struct.info & 0xFFFF, struct.info >> 31
    if kind not in (BTF_KIND_STRUCT, BTF_KIND_UNION):
        return None
    members = (_BtfMember * vlen).from_address(ctypes.addressof(struct) + ctypes.sizeof(struct))
    for member in members:
        bits = int(member.offset & 0xFFFFFF if bitfield else member.offset)
        if member.name_off == 0:  # anonymous: its fields are the struct's
            inner = _member_offset(bpf, btf, int(bpf.btf__resolve_type(btf, member.type)), name)
            if inner is not None:
                return bits // 8 + inner
        elif bpf.btf__name_by_offset(btf, member.name_off) == name:
            return bits // 8
    return None


def _thread_size() -> int:
    """A task's kernel stack size (x86_64: 16 KiB, 32 KiB with KASAN): what
    /proc/meminfo counts for kernel stacks per task, to the nearest power of two."""
    stack_kb = next(int(line.split()[1]) for line in MEMINFO.read_text().splitlines()
                    if line.startswith("KernelStack:"))  # fmt: skip
    tasks = int(LOADAVG.read_text().split()[3].split("/")[1])
    return int(1024 * 2 ** round(math.log2(stack_kb / tasks)))


@cache
def fallback_cflags() -> tuple[str, ...]:
    """-D flags for every field in FIELDS and the kernel stack size; raises
    StructOffsetError when the kernel has no BTF or a field is gone."""
    bpf = _bpf()
    btf = bpf.btf__load_vmlinux_btf()
    if not btf:
        raise StructOffsetError("the helper fallbacks need the kernel's BTF, which it lacks")
    try:
        flags = []
        for define, (struct, member) in FIELDS.items():
            type_id = bpf.btf__find_by_name_kind(btf, struct.encode(), BTF_KIND_STRUCT)
            offset = None if type_id < 0 else _member_offset(bpf, btf, type_id, member.encode())
            if offset is None:
                raise StructOffsetError(f"the kernel's BTF has no {struct}.{member}")
            flags.append(f"-D{define}={offset}")
    finally:
        bpf.btf__free(btf)
    return (*flags, f"-DKERNEL_THREAD_SIZE={_thread_size()}")
