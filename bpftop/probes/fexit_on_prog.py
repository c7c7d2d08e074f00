"""fexit on another BPF program (someone else's XDP program, say).

bcc can only aim fentry/fexit at kernel functions, so the program is compiled as a
template (CompileRequest.templates) and loaded here once per target: the kernel
wants the target's fd and the BTF id of its main function at load time. The
attachment is a link fd: closing it (or bpftop's exit) detaches the program, and
the target is freed once its owner lets go of it too.
"""

from __future__ import annotations

import ctypes
import os

from bpftop.probes import libbpf

PROG_TYPE_TRACING = 26
TRACE_FEXIT = 25  # enum bpf_attach_type
# struct bpf_prog_info (uapi/linux/bpf.h): the fields read here
_OFF_BTF_ID = 128
_OFF_FUNC_INFO_REC_SIZE = 132
_OFF_FUNC_INFO = 136
_OFF_NR_FUNC_INFO = 144


class FexitOnProg:
    """One fexit program on one target program, attached. close() detaches it."""

    def __init__(self, instructions: bytes, name: str, target_prog_id: int) -> None:
        """Load `instructions` as fexit on program `target_prog_id` and attach it.
        Raises OSError with the reason (no such program, no BTF, the verifier's
        last line)."""
        self.target_prog_id = target_prog_id
        self.prog_fd = self.link_fd = -1
        target = libbpf.lib().bpf_prog_get_fd_by_id(target_prog_id)
        if target < 0:
            raise libbpf.error(f"program {target_prog_id} is gone")
        try:
            btf_id = _main_function_btf_id(target)
            if btf_id is None:
                raise OSError(f"program {target_prog_id} has no BTF to attach fexit to")
            self.prog_fd = libbpf.prog_load(
                PROG_TYPE_TRACING, name, instructions,
                attach_type=TRACE_FEXIT, attach_btf_id=btf_id, attach_prog_fd=target,
            )  # fmt: skip
        finally:
            os.close(target)  # the loaded fexit program holds the target now
        self.link_fd = libbpf.lib().bpf_raw_tracepoint_open(None, self.prog_fd)
        if self.link_fd < 0:
            exc = libbpf.error(f"fexit on program {target_prog_id}")
            self.close()
            raise exc

    def close(self) -> None:
        for fd in (self.link_fd, self.prog_fd):
            if fd >= 0:
                os.close(fd)
        self.link_fd = self.prog_fd = -1


def _main_function_btf_id(prog_fd: int) -> int | None:
    """The BTF type id of the program's entry function (func_info[0]), or None
    when it was loaded without BTF."""
    record = (ctypes.c_uint32 * 2)()  # struct bpf_func_info: insn_off, type_id
    buf = ctypes.create_string_buffer(libbpf.INFO_SIZE)
    ctypes.c_uint32.from_buffer(buf, _OFF_NR_FUNC_INFO).value = 1
    ctypes.c_uint32.from_buffer(buf, _OFF_FUNC_INFO_REC_SIZE).value = ctypes.sizeof(record)
    ctypes.c_uint64.from_buffer(buf, _OFF_FUNC_INFO).value = ctypes.addressof(record)
    size = ctypes.c_uint32(libbpf.INFO_SIZE)
    if libbpf.lib().bpf_obj_get_info_by_fd(prog_fd, buf, ctypes.byref(size)) != 0:
        return None
    if ctypes.c_uint32.from_buffer(buf, _OFF_BTF_ID).value == 0:
        return None
    return int(record[1]) or None
