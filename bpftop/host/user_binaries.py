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
SHT_NOTE = 7
SHT_DYNSYM = 11
PT_LOAD = 1
NT_STAPSDT = 3


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
        if (
            target in (mapped.path, name)
            or real == mapped.path
            or name.startswith((f"lib{target}.so", f"{target}.so"))
        ):
            return mapped
    raise UserCodeError(f"{target} is not mapped in pid {pid}")


@dataclass(frozen=True)
class UsdtProbe:
    """A USDT (SystemTap SDT) probe point of a file, as uprobes need it."""

    provider: str
    name: str
    offset: int  # file offset of the probe's nop
    semaphore_offset: int  # file offset of its semaphore; 0: none
    args: str = ""  # where its arguments are: "8@%rbp 8@%r12 -4@%eax" (size@location)

    @property
    def label(self) -> str:
        return f"{self.provider}:{self.name}"


def functions(path: str) -> dict[str, int]:
    """{name: address} of the functions the file's symbol tables place."""
    stat = os.stat(path)
    return _functions(path, stat.st_ino, stat.st_mtime_ns)


@lru_cache(maxsize=32)
def _functions(path: str, _inode: int, _mtime: int) -> dict[str, int]:
    data = _read_elf(path)
    sections = _sections(data)
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


def usdt_probes(path: str) -> list[UsdtProbe]:
    """The file's .note.stapsdt probes (one entry per location)."""
    stat = os.stat(path)
    return _usdt_probes(path, stat.st_ino, stat.st_mtime_ns)


@lru_cache(maxsize=32)
def _usdt_probes(path: str, _inode: int, _mtime: int) -> list[UsdtProbe]:
    data = _read_elf(path)
    sections = _sections(data)
    names_at = sections[struct.unpack_from("<H", data, 0x3E)[0]][4]

    def name_of(section: tuple[int, ...]) -> str:
        start = names_at + section[0]
        return data[start : data.index(b"\0", start)].decode()

    base = next((s[3] for s in sections if name_of(s) == ".stapsdt.base"), None)
    found = []
    for section in sections:
        if section[1] != SHT_NOTE or name_of(section) != ".note.stapsdt":
            continue
        at, end = section[4], section[4] + section[5]
        while at + 12 <= end:
            namesz, descsz, kind = struct.unpack_from("<III", data, at)
            desc = at + 12 + _align4(namesz)
            at = desc + _align4(descsz)
            if kind != NT_STAPSDT or descsz < 24:
                continue
            pc, note_base, semaphore = struct.unpack_from("<QQQ", data, desc)
            provider, name, args = [*data[desc + 24 : desc + descsz].split(b"\0"), b""][:3]
            if base is not None and note_base:  # prelinked: the base moved, so did the rest
                pc += base - note_base
                semaphore += (base - note_base) if semaphore else 0
            offset = _file_offset(data, pc)
            if offset is None:
                continue
            semaphore_offset = _file_offset(data, semaphore) if semaphore else None  # fmt: skip
            args_text = args.decode(errors="replace")
            found.append(
                UsdtProbe(
                    provider.decode(), name.decode(), offset, semaphore_offset or 0, args_text
                )
            )
    return found


def _align4(n: int) -> int:
    return (n + 3) & ~3


def _read_elf(path: str) -> bytes:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise UserCodeError(f"cannot read {path}: {exc.strerror}") from None
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        raise UserCodeError(f"{path} is not a 64-bit little-endian ELF file")
    return data


def _sections(data: bytes) -> list[tuple[int, ...]]:
    """(name, type, flags, addr, offset, size, link, info, align, entsize) per section."""
    (shoff,) = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum = struct.unpack_from("<HH", data, 0x3A)
    return [struct.unpack_from("<IIQQQQIIQQ", data, shoff + i * shentsize) for i in range(shnum)]


def _file_offset(data: bytes, vaddr: int) -> int | None:
    """Where a virtual address of the file's image lies in the file (PT_LOAD segments)."""
    (phoff,) = struct.unpack_from("<Q", data, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
    for i in range(phnum):
        kind, _flags, offset, start, _paddr, filesz, _memsz, _align = struct.unpack_from(
            "<IIQQQQQQ", data, phoff + i * phentsize
        )
        if kind == PT_LOAD and start <= vaddr < start + filesz:
            return int(vaddr - start + offset)
    return None


def resolve_usdt(pid: int, spec: str) -> tuple[MappedFile, UsdtProbe]:
    """`usdt:LIB_OR_PATH:PROVIDER:NAME` -> the mapped file and the probe; or why not."""
    parts = spec.split(":")
    if len(parts) != 4 or parts[0] != "usdt" or not all(parts[1:]):
        raise UserCodeError(f"USDT probe wants usdt:LIB_OR_PATH:PROVIDER:NAME, got {spec!r}")
    _, target, provider, name = parts
    mapped = find_mapped(pid, target)
    check_unchanged(pid, mapped)
    matches = [
        p for p in usdt_probes(host_path(pid, mapped)) if (p.provider, p.name) == (provider, name)
    ]
    if not matches:
        raise UserCodeError(f"{mapped.label} has no USDT probe {provider}:{name}")
    return mapped, matches[0]  # the first location; a probe inlined in several places counts once


def check_spec(pid: int, spec: str) -> None:
    """Raise UserCodeError unless `spec` (a function or a usdt: probe) can be probed."""
    if spec.startswith("usdt:"):
        resolve_usdt(pid, spec)
    else:
        resolve(pid, spec)


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


# CPython's USDT probes (built --with-dtrace): the drilldown's Python view.
PYTHON_ENTRY, PYTHON_RETURN = "function__entry", "function__return"


def python_probes(pid: int) -> tuple[str, str, UsdtProbe, UsdtProbe]:
    """(path as the process sees it, as bpftop opens it, entry, return) of the Python
    interpreter mapped in `pid` (the binary or libpython); ValueError if none."""
    for mapped in mapped_files(pid):
        if mapped.deleted:
            continue
        path = host_path(pid, mapped)
        found = {p.name: p for p in usdt_probes(path) if p.provider == "python"}
        if PYTHON_ENTRY in found and PYTHON_RETURN in found:
            return mapped.path, path, found[PYTHON_ENTRY], found[PYTHON_RETURN]
    raise ValueError(
        f"pid {pid} maps no Python with USDT probes (CPython built without --with-dtrace, "
        "or not Python): no Python view"
    )
