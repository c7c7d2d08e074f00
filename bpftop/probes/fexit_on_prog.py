"""fexit on another BPF program (someone else's XDP program, say), through libbpf.

bcc can only aim fentry/fexit at kernel functions, so the program is compiled as a
template (CompileRequest.templates) and loaded here once per target: the kernel
wants the target's fd and the BTF id of its main function at load time. The
attachment is a link fd: closing it (or bpftop's exit) detaches the program, and
the target is freed once its owner lets go of it too.
"""

from __future__ import annotations

import ctypes
import os

PROG_TYPE_TRACING = 26
TRACE_FEXIT = 25  # enum bpf_attach_type
LOG_SIZE = 1 << 16
# struct bpf_prog_info (uapi/linux/bpf.h): the fields read here
_INFO_SIZE = 256
_OFF_BTF_ID = 128
_OFF_FUNC_INFO_REC_SIZE = 132
_OFF_FUNC_INFO = 136
_OFF_NR_FUNC_INFO = 144


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


def _libbpf() -> ctypes.CDLL:
    lib = ctypes.CDLL("libbpf.so.1", use_errno=True)
    lib.bpf_prog_get_fd_by_id.argtypes = [ctypes.c_uint32]
    lib.bpf_obj_get_info_by_fd.argtypes = [
        ctypes.c_int,
        ctypes.c_void_p,
        ctypes.POINTER(ctypes.c_uint32),
    ]
    lib.bpf_prog_load.argtypes = [
        ctypes.c_int,
        ctypes.c_char_p,
        ctypes.c_char_p,
        ctypes.c_char_p,
        ctypes.c_size_t,
        ctypes.POINTER(_LoadOpts),
    ]
    lib.bpf_raw_tracepoint_open.argtypes = [ctypes.c_char_p, ctypes.c_int]
    return lib


class FexitOnProg:
    """One fexit program on one target program, attached. close() detaches it."""

    def __init__(self, instructions: bytes, name: str, target_prog_id: int) -> None:
        """Load `instructions` as fexit on program `target_prog_id` and attach it.
        Raises OSError with the reason (no such program, no BTF, the verifier's
        last line)."""
        self.target_prog_id = target_prog_id
        self.prog_fd = self.link_fd = -1
        lib = _libbpf()
        target = lib.bpf_prog_get_fd_by_id(target_prog_id)
        if target < 0:
            raise _error(f"program {target_prog_id} is gone")
        try:
            btf_id = _main_function_btf_id(lib, target)
            if btf_id is None:
                raise OSError(f"program {target_prog_id} has no BTF to attach fexit to")
            log = ctypes.create_string_buffer(LOG_SIZE)
            opts = _LoadOpts(
                sz=ctypes.sizeof(_LoadOpts),
                expected_attach_type=TRACE_FEXIT,
                attach_btf_id=btf_id,
                attach_prog_fd=target,
                log_level=1,
                log_size=LOG_SIZE,
                log_buf=ctypes.cast(log, ctypes.c_char_p),
            )
            self.prog_fd = lib.bpf_prog_load(
                PROG_TYPE_TRACING, name.encode(), b"GPL", instructions,
                len(instructions) // 8, ctypes.byref(opts),
            )  # fmt: skip
            if self.prog_fd < 0:
                lines = log.value.decode("utf-8", "replace").strip().splitlines()
                raise _error(f"fexit on program {target_prog_id}", lines[-1] if lines else "")
        finally:
            os.close(target)  # the loaded fexit program holds the target now
        self.link_fd = lib.bpf_raw_tracepoint_open(None, self.prog_fd)
        if self.link_fd < 0:
            exc = _error(f"fexit on program {target_prog_id}")
            self.close()
            raise exc

    def close(self) -> None:
        for fd in (self.link_fd, self.prog_fd):
            if fd >= 0:
                os.close(fd)
        self.link_fd = self.prog_fd = -1


def _main_function_btf_id(lib: ctypes.CDLL, prog_fd: int) -> int | None:
    """The BTF type id of the program's entry function (func_info[0]), or None
    when it was loaded without BTF."""
    record = (ctypes.c_uint32 * 2)()  # struct bpf_func_info: insn_off, type_id
    buf = ctypes.create_string_buffer(_INFO_SIZE)
    ctypes.c_uint32.from_buffer(buf, _OFF_NR_FUNC_INFO).value = 1
    ctypes.c_uint32.from_buffer(buf, _OFF_FUNC_INFO_REC_SIZE).value = ctypes.sizeof(record)
    ctypes.c_uint64.from_buffer(buf, _OFF_FUNC_INFO).value = ctypes.addressof(record)
    size = ctypes.c_uint32(_INFO_SIZE)
    if lib.bpf_obj_get_info_by_fd(prog_fd, buf, ctypes.byref(size)) != 0:
        return None
    if ctypes.c_uint32.from_buffer(buf, _OFF_BTF_ID).value == 0:
        return None
    return int(record[1]) or None


def _error(what: str, detail: str = "") -> OSError:
    err = ctypes.get_errno()
    return OSError(err, f"{what}: {detail or os.strerror(err)}")
