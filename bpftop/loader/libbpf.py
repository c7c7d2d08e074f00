"""Loading BPF programs and creating maps without bcc, through libbpf (libbpf.so.1).

bcc compiles and loads in one go; bpftop loads itself what bcc cannot aim (fexit on
another BPF program) or what it compiled before (the compile cache). Both take
instructions from a bcc module, whose map references name the compiler process's
map fds: `relocate` turns them into this process's.
"""

from __future__ import annotations

import ctypes
import os
from collections.abc import Callable
from functools import cache

from bpftop.host.kernel import PROG_TYPES

LD_IMM64 = 0x18  # BPF_LD | BPF_IMM | BPF_DW: an instruction of two slots
PSEUDO_MAP_FD = 1  # its src_reg when the immediate is a map fd
LOG_SIZE = 1 << 16
# struct bpf_prog_info (uapi/linux/bpf.h)
INFO_SIZE = 256  # larger than the kernel's struct; the tail stays zero as it requires
_OFF_ID = 4
_OFF_NAME = 64  # char name[BPF_OBJ_NAME_LEN = 16]
_OFF_RUN_TIME_NS = 192
_OFF_RUN_CNT = 200
_OFF_BTF_ID = 128
_OFF_FUNC_INFO_REC_SIZE = 132
_OFF_FUNC_INFO = 136
_OFF_NR_FUNC_INFO = 144
FUNC_INFO_SIZE = 8  # struct bpf_func_info: insn_off, type_id


class _LoadOpts(ctypes.Structure):
    """libbpf's struct bpf_prog_load_opts, as of libbpf 1.1 (Debian 12)."""

    _fields_ = [
        ("sz", ctypes.c_size_t),
        ("attempts", ctypes.c_int),
        ("expected_attach_type", ctypes.c_int),
        ("prog_btf_fd", ctypes.c_uint32),
        ("prog_flags", ctypes.c_uint32),
        ("prog_ifindex", ctypes.c_uint32),
        ("kern_version", ctypes.c_uint32),
        ("attach_btf_id", ctypes.c_uint32),
        ("attach_btf_obj_fd", ctypes.c_uint32),
        ("attach_prog_fd", ctypes.c_int),
        ("_pad", ctypes.c_int),  # size_t :0
        ("fd_array", ctypes.c_void_p),
        ("func_info", ctypes.c_void_p),
        ("func_info_cnt", ctypes.c_uint32),
        ("func_info_rec_size", ctypes.c_uint32),
        ("line_info", ctypes.c_void_p),
        ("line_info_cnt", ctypes.c_uint32),
        ("line_info_rec_size", ctypes.c_uint32),
        ("log_level", ctypes.c_uint32),
        ("log_size", ctypes.c_uint32),
        ("log_buf", ctypes.c_char_p),
    ]


class _MapOpts(ctypes.Structure):
    """libbpf's struct bpf_map_create_opts, as of libbpf 1.1."""

    _fields_ = [
        ("sz", ctypes.c_size_t),
        ("btf_fd", ctypes.c_uint32),
        ("btf_key_type_id", ctypes.c_uint32),
        ("btf_value_type_id", ctypes.c_uint32),
        ("btf_vmlinux_value_type_id", ctypes.c_uint32),
        ("inner_map_fd", ctypes.c_uint32),
        ("map_flags", ctypes.c_uint32),
        ("map_extra", ctypes.c_uint64),
        ("numa_node", ctypes.c_uint32),
        ("map_ifindex", ctypes.c_uint32),
    ]


@cache
def lib() -> ctypes.CDLL:
    bpf = ctypes.CDLL("libbpf.so.1", use_errno=True)
    bpf.bpf_prog_get_fd_by_id.argtypes = [ctypes.c_uint32]
    bpf.bpf_obj_get_info_by_fd.argtypes = [
        ctypes.c_int,
        ctypes.c_void_p,
        ctypes.POINTER(ctypes.c_uint32),
    ]
    bpf.bpf_prog_load.argtypes = [
        ctypes.c_int,
        ctypes.c_char_p,
        ctypes.c_char_p,
        ctypes.c_char_p,
        ctypes.c_size_t,
        ctypes.POINTER(_LoadOpts),
    ]
    bpf.bpf_map_create.argtypes = [
        ctypes.c_int,
        ctypes.c_char_p,
        ctypes.c_uint32,
        ctypes.c_uint32,
        ctypes.c_uint32,
        ctypes.POINTER(_MapOpts),
    ]
    bpf.bpf_raw_tracepoint_open.argtypes = [ctypes.c_char_p, ctypes.c_int]
    bpf.bpf_enable_stats.argtypes = [ctypes.c_int]
    bpf.bpf_link_create.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_void_p]
    bpf.libbpf_find_vmlinux_btf_id.argtypes = [ctypes.c_char_p, ctypes.c_int]
    bpf.bpf_btf_get_fd_by_id.argtypes = [ctypes.c_uint32]
    bpf.bpf_btf_load.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_void_p]
    return bpf


def relocate(code: bytes, fd_for: Callable[[int], int]) -> bytes:
    """`code` with each map fd in it replaced by fd_for(that fd)."""
    out = bytearray(code)
    for at in range(0, len(out) - 15, 8):
        if out[at] == LD_IMM64 and out[at + 1] >> 4 == PSEUDO_MAP_FD:
            fd = int.from_bytes(out[at + 4 : at + 8], "little", signed=True)
            out[at + 4 : at + 8] = fd_for(fd).to_bytes(4, "little", signed=True)
    return bytes(out)


def patch_immediate(code: bytes, placeholder: int, value: int) -> bytes:
    """`code` with the one instruction immediate equal to `placeholder` set to `value`
    (a constant a template gets per load). ValueError unless there is exactly one."""
    out = bytearray(code)
    found = [
        at
        for at in range(0, len(out), 8)
        if int.from_bytes(out[at + 4 : at + 8], "little") == placeholder
    ]
    if len(found) != 1:
        raise ValueError(f"{len(found)} immediates {placeholder:#x} in a template, not 1")
    out[found[0] + 4 : found[0] + 8] = value.to_bytes(4, "little")
    return bytes(out)


def prog_load(
    prog_type: int,
    name: str,
    code: bytes,
    *,
    license: str = "GPL",
    attach_type: int = 0,
    attach_btf_id: int = 0,
    attach_prog_fd: int = 0,
    btf_fd: int = 0,
    func_info: bytes = b"",
) -> int:
    """Load a program; its fd. OSError with the verifier's last line if refused.
    `btf_fd` and `func_info` (from prog_btf()) give it its full name and types."""
    log = ctypes.create_string_buffer(LOG_SIZE)
    opts = _LoadOpts(
        sz=ctypes.sizeof(_LoadOpts),
        expected_attach_type=attach_type,
        attach_btf_id=attach_btf_id,
        attach_prog_fd=attach_prog_fd,
        prog_btf_fd=btf_fd,
        func_info=ctypes.cast(ctypes.c_char_p(func_info), ctypes.c_void_p) if func_info else None,
        func_info_cnt=len(func_info) // FUNC_INFO_SIZE,
        func_info_rec_size=FUNC_INFO_SIZE if func_info else 0,
        log_level=0,  # the log only when the load fails: libbpf retries with level 1
        log_size=LOG_SIZE,
        log_buf=ctypes.cast(log, ctypes.c_char_p),
    )
    fd = int(
        lib().bpf_prog_load(
            prog_type, name.encode(), license.encode(), code, len(code) // 8, ctypes.byref(opts)
        )
    )
    if fd < 0:
        lines = log.value.decode("utf-8", "replace").strip().splitlines()
        raise error(f"cannot load {name}", lines[-1] if lines else "")
    return fd


def map_create(
    map_type: int, name: str, key_size: int, value_size: int, max_entries: int, flags: int
) -> int:
    opts = _MapOpts(sz=ctypes.sizeof(_MapOpts), map_flags=flags)
    fd = int(
        lib().bpf_map_create(
            map_type, name.encode(), key_size, value_size, max_entries, ctypes.byref(opts)
        )
    )
    if fd < 0:
        raise error(f"cannot create map {name}")
    return fd


def vmlinux_btf_id(function: str, attach_type: int) -> int:
    """The kernel's BTF id for an fentry/fexit/LSM target (libbpf adds bpf_lsm_)."""
    found = int(lib().libbpf_find_vmlinux_btf_id(function.encode(), attach_type))
    if found < 0:
        raise OSError(-found, f"no kernel BTF for {function}: {os.strerror(-found)}")
    return found


def _prog_info(prog_fd: int) -> bytes:
    """struct bpf_prog_info of a loaded program, as bytes."""
    buf = ctypes.create_string_buffer(INFO_SIZE)
    size = ctypes.c_uint32(INFO_SIZE)
    if lib().bpf_obj_get_info_by_fd(prog_fd, buf, ctypes.byref(size)) != 0:
        raise error("cannot read a program's info")
    return buf.raw


def prog_name(prog_fd: int) -> str:
    """The name the kernel keeps for a program (at most 15 characters)."""
    raw = _prog_info(prog_fd)[_OFF_NAME : _OFF_NAME + 16]
    return raw.split(b"\0", 1)[0].decode("utf-8", "replace")


def prog_stats(prog_fd: int) -> tuple[int, int, int]:
    """(program id, run_time_ns, run_cnt) of a loaded program (the run time counts only
    while BPF_ENABLE_STATS is on: bpftop/loader/stats.py)."""
    raw = _prog_info(prog_fd)
    return (
        int.from_bytes(raw[_OFF_ID : _OFF_ID + 4], "little"),
        int.from_bytes(raw[_OFF_RUN_TIME_NS : _OFF_RUN_TIME_NS + 8], "little"),
        int.from_bytes(raw[_OFF_RUN_CNT : _OFF_RUN_CNT + 8], "little"),
    )


def map_info(map_fd: int) -> dict[str, int | str]:
    """What the kernel says of a map: enough to create its twin."""
    buf = ctypes.create_string_buffer(INFO_SIZE)
    size = ctypes.c_uint32(INFO_SIZE)
    if lib().bpf_obj_get_info_by_fd(map_fd, buf, ctypes.byref(size)) != 0:
        raise error("cannot read a map's facts")
    u32 = [int.from_bytes(buf.raw[i : i + 4], "little") for i in range(0, 24, 4)]
    # struct bpf_map_info: type, id, key_size, value_size, max_entries, map_flags, name
    return {
        "map_type": u32[0],
        "key_size": u32[2],
        "value_size": u32[3],
        "max_entries": u32[4],
        "flags": u32[5],
        "name": buf.raw[24:40].split(b"\0", 1)[0].decode(),
    }


def prog_btf(prog_fd: int) -> tuple[int, bytes]:
    """A loaded program's BTF object id (0: none) and its func_info records."""
    buf = ctypes.create_string_buffer(INFO_SIZE)
    size = ctypes.c_uint32(INFO_SIZE)
    if lib().bpf_obj_get_info_by_fd(prog_fd, buf, ctypes.byref(size)) != 0:
        raise error("cannot read a program's BTF")
    count = ctypes.c_uint32.from_buffer(buf, _OFF_NR_FUNC_INFO).value
    btf_id = ctypes.c_uint32.from_buffer(buf, _OFF_BTF_ID).value
    if not btf_id or not count:
        return 0, b""
    records = ctypes.create_string_buffer(count * FUNC_INFO_SIZE)
    buf = ctypes.create_string_buffer(INFO_SIZE)  # a fresh one: every other field zero
    ctypes.c_uint32.from_buffer(buf, _OFF_NR_FUNC_INFO).value = count
    ctypes.c_uint32.from_buffer(buf, _OFF_FUNC_INFO_REC_SIZE).value = FUNC_INFO_SIZE
    ctypes.c_uint64.from_buffer(buf, _OFF_FUNC_INFO).value = ctypes.addressof(records)
    size = ctypes.c_uint32(INFO_SIZE)
    if lib().bpf_obj_get_info_by_fd(prog_fd, buf, ctypes.byref(size)) != 0:
        raise error("cannot read a program's func_info")
    return btf_id, records.raw


def btf_data(btf_id: int) -> bytes:
    """The raw BTF of a loaded BTF object (struct bpf_btf_info: btf, btf_size, ...)."""
    fd = lib().bpf_btf_get_fd_by_id(btf_id)
    if fd < 0:
        raise error(f"no BTF object {btf_id}")
    try:
        info = (ctypes.c_uint64 * 4)()  # btf, btf_size+id, name, name_len+kernel_btf
        size = ctypes.c_uint32(ctypes.sizeof(info))
        if lib().bpf_obj_get_info_by_fd(fd, info, ctypes.byref(size)) != 0:
            raise error("cannot read BTF")
        length = info[1] & 0xFFFFFFFF
        data = ctypes.create_string_buffer(length)
        info[0], info[1], info[2], info[3] = ctypes.addressof(data), length, 0, 0
        size = ctypes.c_uint32(ctypes.sizeof(info))
        if lib().bpf_obj_get_info_by_fd(fd, info, ctypes.byref(size)) != 0:
            raise error("cannot read BTF")
        return data.raw
    finally:
        os.close(fd)


def btf_load(data: bytes) -> int:
    fd = int(lib().bpf_btf_load(data, len(data), None))
    if fd < 0:
        raise error("cannot load BTF")
    return fd


def error(what: str, detail: str = "") -> OSError:
    err = ctypes.get_errno()
    return OSError(err, f"{what}: {detail or os.strerror(err)}")


ATTACH_TRACE_FEXIT = 25  # enum bpf_attach_type
RETURN_ZERO = bytes([0xB7, 0, 0, 0, 0, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0])  # r0 = 0; exit


@cache
def tracing_programs_reattach() -> bool:
    """Whether an fexit program detached from its function can be attached again. Kernels
    before 5.11 refuse (ENOENT: the program's target is spent by its first attach), so a
    probe there keeps such hooks attached rather than lose them. Tried once, on the test
    function every kernel with BTF has (bpf_fentry_test1); False where fexit cannot load."""
    try:
        btf_id = vmlinux_btf_id("bpf_fentry_test1", ATTACH_TRACE_FEXIT)
        fd = prog_load(PROG_TYPES["tracing"], "bpftop_reattach", RETURN_ZERO,
                       attach_type=ATTACH_TRACE_FEXIT, attach_btf_id=btf_id)  # fmt: skip
    except OSError:
        return False
    try:
        for _ in range(2):
            link = int(lib().bpf_raw_tracepoint_open(None, fd))
            if link < 0:
                return False
            os.close(link)
        return True
    finally:
        os.close(fd)
