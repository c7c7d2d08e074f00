"""The files a process has mapped and the functions their ELF symbol tables place.

Uprobes patch the target's text pages, so bpftop only offers functions that a
symbol table gives an address and size for, in a file that is still the one the
process mapped (not deleted or replaced since). Read with the struct module:
64-bit little-endian ELF (x86_64), .symtab and .dynsym.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

STT_FUNC = 2
STT_GNU_IFUNC = 10
SHT_SYMTAB = 2
SHT_DYNSYM = 11


class UserCodeError(ValueError):
    """Why a function cannot be probed; one line for the user."""


@dataclass(frozen=True)
class MappedFile:
    path: str  # as the process sees it
    inode: int
    deleted: bool

    @property
    def label(self) -> str:
        return os.path.basename(self.path)


def mapped_files(pid: int) -> list[MappedFile]:
    """Executable file mappings of a process, main binary first, each file once."""
    try:
        lines = Path(f"/proc/{pid}/maps").read_text().splitlines()
    except FileNotFoundError:
        raise UserCodeError(f"no process with pid {pid}") from None
    except PermissionError:
        raise UserCodeError(f"cannot read /proc/{pid}/maps: permission denied") from None
    files: dict[str, MappedFile] = {}
    for line in lines:
        parts = line.split(maxsplit=5)
        if len(parts) < 6 or "x" not in parts[1] or not parts[5].startswith("/"):
            continue
        path, deleted = parts[5], parts[5].endswith(" (deleted)")
        path = path.removesuffix(" (deleted)")
        files.setdefault(path, MappedFile(path, int(parts[4]), deleted))
    return list(files.values())


def host_path(pid: int, mapped: MappedFile) -> str:
    """The file as bpftop can open it: through the process's root (containers)."""
    return f"/proc/{pid}/root{mapped.path}"


def check_unchanged(pid: int, mapped: MappedFile) -> None:
    """Refuse a file replaced since the process mapped it: its symbols would
    place probes on the new file, not on the code that runs."""
    if mapped.deleted:
        raise UserCodeError(f"{mapped.path} was deleted or replaced since pid {pid} started")
    try:
        inode = os.stat(host_path(pid, mapped)).st_ino
    except OSError as exc:
        raise UserCodeError(f"cannot open {mapped.path}: {exc.strerror}") from None
    if inode != mapped.inode:
        raise UserCodeError(f"{mapped.path} was replaced since pid {pid} started")


def find_mapped(pid: int, target: str) -> MappedFile:
    """`libc.so.6`, `c`, `libssl`, a path, or the binary's own name."""
    files = mapped_files(pid)
    # A path may be a symlink (/usr/bin/python3 -> python3.11); maps has the real file.
    # Resolved only where the process shares bpftop's root (not inside a container).
    try:
        same_root = os.readlink(f"/proc/{pid}/root") == "/"
    except OSError:
        same_root = False
    real = os.path.realpath(target) if same_root and target.startswith("/") else None
    for mapped in files:
        name = mapped.label
        if target in (mapped.path, name) or real == mapped.path or name.startswith((f"lib{target}.so", f"{target}.so")):
            return mapped
    raise UserCodeError(f"{target} is not mapped in pid {pid}")


def functions(path: str) -> dict[str, int]:
    """{name: address} of the functions the file's symbol tables place."""
    stat = os.stat(path)
    return _functions(path, stat.st_ino, stat.st_mtime_ns)


@lru_cache(maxsize=32)
def _functions(path: str, _inode: int, _mtime: int) -> dict[str, int]:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise UserCodeError(f"cannot read {path}: {exc.strerror}") from None
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        raise UserCodeError(f"{path} is not a 64-bit little-endian ELF file")
    (shoff,) = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum = struct.unpack_from("<HH", data, 0x3A)
    sections = [
        struct.unpack_from("<IIQQQQIIQQ", data, shoff + i * shentsize) for i in range(shnum)
    ]
    found: dict[str, int] = {}
    for _name, kind, _flags, _addr, offset, size, link, _info, _align, entsize in sections:
        if kind not in (SHT_SYMTAB, SHT_DYNSYM) or not entsize:
            continue
        strtab = sections[link]
        str_off = strtab[4]
        for at in range(offset, offset + size, entsize):
            st_name, st_info, _other, st_shndx, st_value, st_size = struct.unpack_from(
                "<IBBHQQ", data, at
            )
            if st_info & 0xF not in (STT_FUNC, STT_GNU_IFUNC) or not st_shndx or not st_value:
                continue
            end = data.index(b"\0", str_off + st_name)
            name = data[str_off + st_name : end].decode("utf-8", "replace")
            name = name.split("@", 1)[0]  # versioned dynsym names: malloc@@GLIBC_2.2.5
            if name and st_size:
                found.setdefault(name, st_value)
    return found


def resolve(pid: int, spec: str) -> tuple[MappedFile, str]:
    """`LIB_OR_PATH:SYMBOL` -> the mapped file and a symbol it places; or why not."""
    target, sep, symbol = spec.rpartition(":")
    if not sep or not target or not symbol:
        raise UserCodeError(f"uprobe wants LIB_OR_PATH:SYMBOL, got {spec!r}")
    mapped = find_mapped(pid, target)
    check_unchanged(pid, mapped)
    if symbol not in functions(host_path(pid, mapped)):
        raise UserCodeError(f"{mapped.label} has no function {symbol!r} in its symbol table")
    return mapped, symbol
