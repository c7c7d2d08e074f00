"""bcc's Python API without its compiler, for the process that only attaches and reads.

libbcc.so carries clang and LLVM: loading it costs a process ~62 MiB of RSS
(12 MiB of it dirty) and ~0.1 s, and bpftop's own process never compiles (child
processes do, bpftop/loader/compiler.py). What bcc's Python API calls for maps,
ring buffers, attaching and symbols is all in libbcc_bpf.so, the same library
without the compiler. So bcc's own libbcc.py runs here with libbcc_bpf.so in
place of libbcc.so; a compiler function called by mistake raises.

Any surprise (another bcc layout, no libbcc_bpf.so) falls back to the plain import.
"""

from __future__ import annotations

import ctypes
import sys
from typing import Any

LIBBCC = "libbcc.so.0"
LIBBCC_BPF = "libbcc_bpf.so.0"


class _Missing:
    """A libbcc function that libbcc_bpf.so lacks: bcc may set its types, not call it."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __call__(self, *_args: Any) -> Any:
        raise RuntimeError(f"{self._name} is bcc's compiler, not loaded in this process")


class _WithoutCompiler:
    def __init__(self, lib: ctypes.CDLL) -> None:
        self._lib = lib

    def __getattr__(self, name: str) -> Any:
        try:
            function: Any = getattr(self._lib, name)
        except AttributeError:
            function = _Missing(name)
        setattr(self, name, function)  # one object per name: libbcc.py sets its types
        return function


def import_bcc() -> None:
    """Import bcc over libbcc_bpf.so, unless it was imported already."""
    if "bcc" in sys.modules:
        return
    try:
        _import_bcc_without_compiler()
    except Exception:
        _forget_bcc()
        import bcc  # noqa: F401


def using_real_libbcc() -> None:
    """Forget bcc, so that the next import loads the real libbcc.so: for a compile
    child forked from a process that imported bcc over libbcc_bpf.so."""
    libbcc = sys.modules.get("bcc.libbcc")
    if libbcc is not None and isinstance(getattr(libbcc, "lib", None), _WithoutCompiler):
        _forget_bcc()


def _forget_bcc() -> None:
    for name in [n for n in sys.modules if n == "bcc" or n.startswith("bcc.")]:
        del sys.modules[name]


def _import_bcc_without_compiler() -> None:
    without_compiler = _WithoutCompiler(ctypes.CDLL(LIBBCC_BPF, use_errno=True))
    real_cdll = ctypes.CDLL

    def cdll(name: str, *args: Any, **kwargs: Any) -> Any:
        return without_compiler if name == LIBBCC else real_cdll(name, *args, **kwargs)

    ctypes.CDLL = cdll  # type: ignore[misc,assignment]  # only while bcc imports
    try:
        import bcc.libbcc
    finally:
        ctypes.CDLL = real_cdll  # type: ignore[misc]
    if bcc.libbcc.lib is not without_compiler:
        raise ImportError("bcc did not load libbcc.so.0 as bpftop expected")
