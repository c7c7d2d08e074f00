"""Compiled probes kept on disk, so that a later start loads them instead of compiling.

bcc compiles every probe with clang at every start: ~0.2-0.4 s of CPU each here,
seconds on a slow or busy box, and most of bpftop's start-up. What a compile
produces (each program's type and instructions, each map's type and sizes, what bcc
knows of the maps' layouts) depends only on the sources, the flags, the kernel it
was compiled against and bcc itself. A later start with all of those unchanged
creates the maps and loads the programs itself, in milliseconds. The kernel's
verifier still checks every program, as at any load.

One file per compile in /var/cache/bpftop (root's, mode 0700), named by a hash of
everything the compile depended on; BPFTOP_CACHE_DIR names another directory, and
an empty value turns the cache off. A directory that cannot be written is no cache.
An entry that fails to load is deleted, and the probe is compiled.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import stat
import tempfile
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bpftop.loader import libbpf

if TYPE_CHECKING:
    from bpftop.loader.compiler import CompileRequest

DEFAULT_DIR = "/var/cache/bpftop"
FORMAT = 2  # of the files; part of the key
KEEP = 64  # files; the least recently written go first
# bcc's name prefixes of programs it loads with a kernel function as target, and the
# attach type of each (enum bpf_attach_type)
ATTACH_PREFIXES = {"kfunc__": 24, "kretfunc__": 25, "lsm__": 27}  # FENTRY, FEXIT, LSM_MAC


def cache_dir() -> Path | None:
    """Where the cache lives; None when it is off or not safely root's."""
    where = os.environ.get("BPFTOP_CACHE_DIR", DEFAULT_DIR)
    if not where or os.geteuid() != 0:
        return None
    path = Path(where)
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = path.stat()
    except OSError:
        return None
    # Programs loaded into the kernel from here: only root may have written them.
    if info.st_uid != 0 or info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return None
    return path


def has(request: CompileRequest) -> bool:
    where = cache_dir()
    return where is not None and (where / _key(request)).is_file()


def read(request: CompileRequest) -> dict[str, Any] | None:
    """The compiler's answer for `request` from an earlier compile, or None."""
    where = cache_dir()
    if where is None:
        return None
    try:
        answer = json.loads((where / _key(request)).read_bytes())
    except (OSError, ValueError):
        return None
    return answer if isinstance(answer, dict) and answer.get("format") == FORMAT else None


def write(request: CompileRequest, answer: dict[str, Any]) -> None:
    """Keep a compile's answer (atomically; silently not where it cannot be)."""
    where = cache_dir()
    if where is None:
        return
    kept = {k: v for k, v in answer.items() if k != "stderr"} | {"format": FORMAT}
    try:
        with tempfile.NamedTemporaryFile(dir=where, delete=False, suffix=".new") as out:
            out.write(json.dumps(kept).encode())
        os.replace(out.name, where / _key(request))
    except OSError:
        with contextlib.suppress(OSError, NameError):
            os.unlink(out.name)
        return
    _prune(where)


def forget(request: CompileRequest) -> None:
    where = cache_dir()
    if where is not None:
        with contextlib.suppress(OSError):
            (where / _key(request)).unlink()


def load_again(answer: dict[str, Any]) -> list[int]:
    """Create the maps and load the programs of a cached answer; their fds in the
    order the compiler process sent them (programs, then maps). Raises OSError."""
    recipe = answer["load"]
    maps: dict[int, int] = {}  # the compiler process's fd -> ours
    programs: list[int] = []
    btf = base64.b64decode(recipe["btf"])
    btf_fd = libbpf.btf_load(btf) if btf else 0
    try:
        for m in recipe["maps"]:
            sizes = (m["key_size"], m["value_size"], m["max_entries"])
            maps[m["fd"]] = libbpf.map_create(m["map_type"], m["name"], *sizes, m["flags"])
        for name, p in zip(answer["functions"], recipe["programs"], strict=True):
            attach_type, target = _attach_target(name)
            code = libbpf.relocate(base64.b64decode(p["insns"]), maps.__getitem__)
            btf_id = libbpf.vmlinux_btf_id(target, attach_type) if target else 0
            options = {
                "license": recipe["license"],
                "attach_type": attach_type,
                "attach_btf_id": btf_id,
                "btf_fd": btf_fd,
                "func_info": base64.b64decode(p["func_info"]) if btf_fd else b"",
            }
            programs.append(libbpf.prog_load(p["type"], p["kernel_name"], code, **options))
    except BaseException:
        for fd in [*programs, *maps.values()]:
            os.close(fd)
        raise
    finally:
        if btf_fd:
            os.close(btf_fd)  # the programs hold it now
    return [*programs, *maps.values()]


def _attach_target(name: str) -> tuple[int, str | None]:
    """The attach type and kernel function of a program bcc loads with a target."""
    for prefix, attach_type in ATTACH_PREFIXES.items():
        if name.startswith(prefix):
            target = name[len(prefix) :]
            # bcc names a kernel function's module too: kretfunc__vmlinux__FN
            return attach_type, target.removeprefix("vmlinux__")
    return 0, None


@cache
def _key(request: CompileRequest) -> str:
    """A hash of everything a compile depends on."""
    digest = hashlib.sha256()
    digest.update(repr((FORMAT, request, os.uname(), os.cpu_count(), _bcc())).encode())
    sources = Path(request.source).parent  # the source and the headers beside it
    for path in sorted(sources.glob("*.[ch]")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


LIBBCC_DIRS = ("/usr/lib/x86_64-linux-gnu", "/usr/lib64", "/usr/lib", "/usr/local/lib")


@cache
def _bcc() -> tuple[str, int, float]:
    """Which bcc compiles: its library's path, size and time."""
    for directory in LIBBCC_DIRS:
        with contextlib.suppress(OSError):
            where = (Path(directory) / "libbcc.so.0").resolve()
            info = where.stat()
            return str(where), info.st_size, info.st_mtime
    return "", 0, 0.0


def _prune(where: Path) -> None:
    entries = sorted(
        (p for p in where.iterdir() if p.is_file() and not p.name.endswith(".new")),
        key=lambda p: p.stat().st_mtime,
    )
    for old in entries[:-KEEP]:
        with contextlib.suppress(OSError):
            old.unlink()
