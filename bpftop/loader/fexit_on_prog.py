"""fexit on another BPF program (someone else's XDP program, say).

bcc can only aim fentry/fexit at kernel functions, so the program is compiled as a
template (CompileRequest.templates) and loaded here once per target: the kernel
wants the target's fd and the BTF id of its main function at load time. The
attachment is a link fd: closing it (or bpftop's exit) detaches the program, and
the target is freed once its owner lets go of it too.
"""

from __future__ import annotations

import os

from bpftop.host.kernel import PROG_TYPES
from bpftop.loader import libbpf


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
                PROG_TYPES["tracing"], name, instructions,
                attach_type=libbpf.ATTACH_TRACE_FEXIT, attach_btf_id=btf_id, attach_prog_fd=target,
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
    """The BTF type id of the program's entry function (func_info[0]: insn_off,
    type_id), or None when it was loaded without BTF."""
    btf_id, func_info = libbpf.prog_btf(prog_fd)
    if not btf_id or len(func_info) < libbpf.FUNC_INFO_SIZE:
        return None
    return int.from_bytes(func_info[4:8], "little") or None
