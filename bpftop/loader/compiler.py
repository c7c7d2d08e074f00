"""Compiles BPF programs in short-lived child processes.

bcc's compiler (clang and LLVM inside libbcc.so) takes 0.15-0.3 s and tens of MiB of
heap per program here, and two compiles in one process crash bcc. So each compile
runs in a forked child: it compiles, loads the programs and creates the maps, hands
their fds back over a unix socket with what bcc knows of them, and exits. The
start-up compiles then run side by side on the box's CPUs, a compiler crash costs
one probe instead of bpftop, and the compiler never loads into bpftop's own process
(bcc_without_compiler.py). The answer also carries what it takes to load it all
again without compiling (instructions, map sizes, BTF): the compile cache keeps it
(compile_cache.py), so a later start usually compiles nothing.

The child attaches nothing: the probe attaches in this process, so everything that
runs in the kernel is owned, and detached, by the process the user sees. A child
whose parent dies is killed by the kernel, and with it every fd it held.
"""

from __future__ import annotations

import base64
import contextlib
import ctypes
import json
import os
import select
import signal
import socket
import sys
import tempfile
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bpftop.loader import compile_cache, libbpf

if TYPE_CHECKING:
    from bpftop.loader.loaded_bpf import LoadedBPF

COMPILE_TIMEOUT_S = 180.0  # emulated VMs compile one program in up to ~12 s
MAX_STDERR = 1 << 18  # of clang's messages, the last this many characters
MAX_FDS = 250  # below the kernel's SCM_MAX_FD (253) per message
MAX_WORKERS = 4
MAX_INHERITED_FD = 1 << 16
PR_SET_PDEATHSIG = 1
PR_SET_NAME = 15
CHILD_NAME = b"bpftop-compile"
# enum bpf_prog_type (uapi/linux/bpf.h), for CompileRequest.program_type
PROG_TYPE_KPROBE = 2
PROG_TYPE_XDP = 6


class CompileError(Exception):
    """A program that did not compile or load; the message is bcc's."""


@dataclass(frozen=True)
class CompileRequest:
    source: str  # path of the .c file
    cflags: tuple[str, ...]
    # bcc's type (BPF.KPROBE, BPF.XDP) for functions without an attach prefix
    # (kprobe__, tracepoint__, kretfunc__, ...); None: such functions are not loaded.
    program_type: int | None = None
    # Functions sent back as instructions rather than loaded: programs whose load needs
    # a target known only later (fexit on someone else's program), loaded by
    # LoadedBPF.instructions() as often as targets come.
    templates: tuple[str, ...] = ()
    # Whether a later start may load it from the compile cache (compile_cache.py):
    # not a program with one process's pid compiled in.
    cacheable: bool = True


@dataclass
class _Job:
    pid: int
    sock: socket.socket


class Compiler:
    """Runs compiles in child processes, at most one per CPU at a time. Used from one
    thread only (the BPF thread), which owns every BPF object."""

    def __init__(self) -> None:
        self._workers = max(1, min(len(os.sched_getaffinity(0)), MAX_WORKERS))
        self._running: dict[CompileRequest, _Job] = {}
        self._waiting: list[CompileRequest] = []

    def prefetch(self, request: CompileRequest) -> None:
        """Start compiling now what `load(request)` will want later (unless the
        compile cache has it)."""
        if request.cacheable and compile_cache.has(request):
            return
        if request not in self._running and request not in self._waiting:
            self._waiting.append(request)
            self._fill()

    def load(self, request: CompileRequest) -> LoadedBPF:
        """The compiled and loaded programs of `request` (prefetched, cached or
        neither), nothing attached yet. Raises CompileError with bcc's message."""
        if request in self._waiting:
            self._waiting.remove(request)
        if request.cacheable and request not in self._running:
            answer = compile_cache.read(request)
            if answer is not None:
                try:
                    fds = compile_cache.load_again(answer)
                except (OSError, KeyError, TypeError, ValueError):
                    compile_cache.forget(request)  # the kernel refused it: compile
                else:
                    return _loaded(answer, fds)
        job = self._running.pop(request, None) or _spawn(request)
        try:
            answer, fds = _receive(job)
        finally:
            self._fill()
        loaded = _loaded(answer, fds)
        if request.cacheable:
            compile_cache.write(request, answer)
        return loaded

    def close(self) -> None:
        """Stop compiles nobody will use (a probe turned off before its turn)."""
        self._waiting.clear()
        for job in self._running.values():
            _end(job, kill=True)
        self._running.clear()

    def _fill(self) -> None:
        while self._waiting and len(self._running) < self._workers:
            request = self._waiting.pop(0)
            self._running[request] = _spawn(request)


# One per process: the BPF thread compiles for every probe through it.
COMPILER = Compiler()


def _spawn(request: CompileRequest) -> _Job:
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    parent = os.getpid()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        code = 1
        try:
            ours.close()
            _child(request, theirs, parent)
            code = 0
        finally:
            os._exit(code)
    theirs.close()
    return _Job(pid, ours)


def _end(job: _Job, *, kill: bool) -> int:
    if kill:
        with contextlib.suppress(ProcessLookupError):
            os.kill(job.pid, signal.SIGKILL)
    job.sock.close()
    _, status = os.waitpid(job.pid, 0)
    return status


def _receive(job: _Job) -> tuple[dict[str, Any], list[int]]:
    """The child's answer and fds: its programs', then its maps'."""
    ready, _, _ = select.select([job.sock], [], [], COMPILE_TIMEOUT_S)
    if not ready:
        _end(job, kill=True)
        raise CompileError(f"the compiler process took over {COMPILE_TIMEOUT_S:.0f} s")
    message, fds, flags, _ = socket.recv_fds(job.sock, 16, MAX_FDS + 1)
    status = _end(job, kill=False)
    if message != b"answer" or not fds or flags & (socket.MSG_TRUNC | socket.MSG_CTRUNC):
        for fd in fds:
            os.close(fd)
        raise CompileError(f"the compiler process died ({_describe(status)})")
    # The answer comes in a file: it carries every program's instructions, more than
    # one socket message holds.
    with os.fdopen(fds.pop(0), "rb") as file:
        answer = json.loads(file.read())
    if answer.get("stderr"):
        # clang's warnings and errors, where bcc would have written them: the
        # engine reads the first error line from this process's stderr.
        with contextlib.suppress(OSError):
            os.write(2, answer["stderr"].encode())
    if "error" in answer:
        for fd in fds:
            os.close(fd)
        raise CompileError(answer["error"])
    return answer, fds


def _loaded(answer: dict[str, Any], fds: list[int]) -> LoadedBPF:
    """A bcc BPF object over the fds of the programs and maps an answer names."""
    from bpftop.loader.loaded_bpf import LoadedBPF, MapFacts, Templates  # bcc: the BPF thread's

    names = answer["functions"]
    functions = dict(zip(names, fds[: len(names)], strict=True))
    maps = {
        m["name"]: (MapFacts(**{**m, "event_fields": tuple(m["event_fields"])}), fd)
        for m, fd in zip(answer["maps"], fds[len(names) :], strict=True)
    }
    templates = Templates(
        {n: base64.b64decode(t) for n, t in answer["templates"].items()},
        {
            m["fd"]: facts["name"]
            for m, facts in zip(answer["load"]["maps"], answer["maps"], strict=True)
        },
    )
    return LoadedBPF(functions, maps, templates)


def _describe(status: int) -> str:
    if os.WIFSIGNALED(status):
        return signal.Signals(os.WTERMSIG(status)).name
    return f"exit status {os.waitstatus_to_exitcode(status)}"


# -- the child ----------------------------------------------------------------------


def _child(request: CompileRequest, sock: socket.socket, parent: int) -> None:
    """Compile and load, send the fds and facts, and return (the caller exits)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    libc.prctl(PR_SET_NAME, CHILD_NAME)  # what ps and top show for it
    if os.getppid() != parent:  # bpftop died before the line above
        return
    # bpftop's other fds (attached programs, other compiles' sockets) are not the
    # child's to keep alive: a probe detached meanwhile must leave at once.
    os.closerange(3, sock.fileno())
    os.closerange(sock.fileno() + 1, MAX_INHERITED_FD)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # ^C of --json is bpftop's to handle
    with tempfile.TemporaryFile() as err, tempfile.TemporaryFile() as out:
        os.dup2(err.fileno(), 2)  # clang writes here; the answer carries it back
        fds: list[int] = []
        try:
            answer, fds = _compile(request)
        except Exception as exc:
            answer = {"error": str(exc)}
        sys.stderr.flush()
        err.seek(0)
        answer["stderr"] = err.read().decode("utf-8", "replace")[-MAX_STDERR:]
        out.write(json.dumps(answer).encode())
        out.seek(0)
        socket.send_fds(sock, [b"answer"], [out.fileno(), *fds])


def _compile(request: CompileRequest) -> tuple[dict[str, Any], list[int]]:
    from bpftop.loader.bcc_without_compiler import using_real_libbcc

    using_real_libbcc()  # bpftop's own bcc has no compiler
    from bcc import BPF
    from bcc.libbcc import lib

    class LoadOnly(BPF):  # type: ignore[misc]
        def _trace_autoload(self) -> None:
            """bcc would attach here; bpftop attaches in its own process."""

    bpf = LoadOnly(src_file=request.source.encode(), cflags=list(request.cflags))
    module = bpf.module
    names, fds, programs = [], [], []
    btf_ids: set[int] = set()  # bcc loads one BTF object for a module's programs
    for i in range(lib.bpf_num_functions(module)):
        name = lib.bpf_function_name(module, i)
        prog_type = _program_type(BPF, name, request.program_type)
        if prog_type is not None and name.decode() not in request.templates:
            fds.append(bpf.load_func(name, prog_type).fd)
            names.append(name.decode())
            btf_id, func_info = libbpf.prog_btf(fds[-1])
            btf_ids.add(btf_id)
            programs.append(
                {
                    "type": prog_type,
                    "kernel_name": libbpf.prog_name(fds[-1]),
                    "insns": _instructions(lib, module, name),
                    "func_info": base64.b64encode(func_info).decode(),
                }
            )
    lib.bpf_num_tables.restype = ctypes.c_ulonglong
    lib.bpf_num_tables.argtypes = [ctypes.c_void_p]
    lib.bpf_table_name.restype = ctypes.c_char_p
    lib.bpf_table_name.argtypes = [ctypes.c_void_p, ctypes.c_ulonglong]
    lib.bpf_table_fd_id.argtypes = [ctypes.c_void_p, ctypes.c_ulonglong]
    templates = {name: _instructions(lib, module, name.encode()) for name in request.templates}
    maps, map_loads = [], []
    for i in range(lib.bpf_num_tables(module)):
        name = lib.bpf_table_name(module, i)
        fds.append(lib.bpf_table_fd_id(module, i))
        # As the instructions name the map (its fd here), and what creates its twin.
        map_loads.append({"fd": fds[-1], **libbpf.map_info(fds[-1])})
        maps.append(
            {
                "name": name.decode(),
                "map_id": i,
                "map_type": lib.bpf_table_type_id(module, i),
                "flags": lib.bpf_table_flags_id(module, i),
                "max_entries": lib.bpf_table_max_entries_id(module, i),
                "key_desc": (lib.bpf_table_key_desc(module, name) or b"").decode(),
                "leaf_desc": (lib.bpf_table_leaf_desc(module, name) or b"").decode(),
                "event_fields": [
                    lib.bpf_perf_event_field(module, name, j).decode()
                    for j in range(lib.bpf_perf_event_fields(module, name))
                ],
            }
        )
    # The programs' BTF (their full names, for bpftool), where they all share one.
    btf = libbpf.btf_data(btf_ids.pop()) if len(btf_ids) == 1 and 0 not in btf_ids else b""
    load = {"license": lib.bpf_module_license(module).decode(), "programs": programs,
            "maps": map_loads, "btf": base64.b64encode(btf).decode()}  # fmt: skip
    return {"functions": names, "maps": maps, "templates": templates, "load": load}, fds


def _instructions(lib: Any, module: Any, name: bytes) -> str:
    """A function's instructions as bcc compiled them (map fds are this process's)."""
    start = lib.bpf_function_start(module, name)
    if not start:
        raise CompileError(f"no function {name.decode()}")
    size = lib.bpf_function_size(module, name)
    return base64.b64encode(ctypes.string_at(start, size)).decode()


def _program_type(bpf_class: Any, name: bytes, default: int | None) -> int | None:
    """The type bcc gives a function by its name's prefix when it loads it itself."""
    for prefix, prog_type in (
        (b"kprobe__", bpf_class.KPROBE),
        (b"kretprobe__", bpf_class.KPROBE),
        (b"tracepoint__", bpf_class.TRACEPOINT),
        (b"raw_tracepoint__", bpf_class.RAW_TRACEPOINT),
        (b"kfunc__", bpf_class.TRACING),
        (b"kretfunc__", bpf_class.TRACING),
        (b"lsm__", bpf_class.LSM),
    ):
        if name.startswith(prefix):
            return int(prog_type)
    return default
