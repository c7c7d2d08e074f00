"""A bcc BPF object rebuilt from what a compiler process loaded (bpftop/loader/compiler.py).

The compiler process (or the compile cache, which loads what an earlier one compiled)
hands over program and map fds with the facts bcc keeps in its compiled module (map
types, key and leaf layouts, ring buffer event fields).
This object answers bcc's API from those facts, so probes attach, read maps and
drain ring buffers exactly as they did with an object bcc compiled in-process,
while the compiler's memory never enters this process.
"""

from __future__ import annotations

import atexit
import json
import os
from dataclasses import dataclass
from typing import Any

from bpftop.loader.bcc_without_compiler import import_bcc
from bpftop.loader.libbpf import relocate

import_bcc()  # before bcc's modules below: this process never loads the compiler

import bcc.table  # noqa: E402
from bcc import BPF  # noqa: E402
from bcc.libbcc import lib  # noqa: E402


@dataclass(frozen=True)
class Templates:
    """Instructions of the functions a request named as templates, and which map each
    map fd number in them (the compiler process's own) stands for."""

    instructions: dict[str, bytes]
    map_names: dict[int, str]


@dataclass(frozen=True)
class MapFacts:
    """What bcc's module knows about one map."""

    name: str
    map_id: int
    map_type: int
    flags: int
    max_entries: int
    key_desc: str
    leaf_desc: str
    event_fields: tuple[str, ...]  # the ring buffer record's fields ("name#type")


class _ModuleFacts:
    """Stands in for libbcc while bcc builds a table: the few questions bcc asks its
    compiled module are answered from the compiler process's facts; every other
    call goes to the real library."""

    def __init__(self, facts: MapFacts) -> None:
        self._facts = facts

    def bpf_table_type_id(self, _module: Any, _map_id: int) -> int:
        return self._facts.map_type

    def bpf_table_flags_id(self, _module: Any, _map_id: int) -> int:
        return self._facts.flags

    def bpf_table_max_entries_id(self, _module: Any, _map_id: int) -> int:
        return self._facts.max_entries

    def bpf_perf_event_fields(self, _module: Any, _name: bytes) -> int:
        return len(self._facts.event_fields)

    def bpf_perf_event_field(self, _module: Any, _name: bytes, i: int) -> bytes:
        return self._facts.event_fields[i].encode()

    def __getattr__(self, name: str) -> Any:
        return getattr(lib, name)


class LoadedBPF(BPF):  # type: ignore[misc]  # bcc has no type hints
    """bcc's BPF with no module: programs and maps arrive as fds."""

    def __init__(
        self,
        functions: dict[str, int],
        maps: dict[str, tuple[MapFacts, int]],
        templates: Templates | None = None,
    ) -> None:
        # What BPF.__init__ sets up besides compiling, which happened elsewhere.
        self.kprobe_fds: dict[Any, Any] = {}
        self.uprobe_fds: dict[Any, Any] = {}
        self.tracepoint_fds: dict[Any, Any] = {}
        self.raw_tracepoint_fds: dict[Any, Any] = {}
        self.kfunc_entry_fds: dict[Any, Any] = {}
        self.kfunc_exit_fds: dict[Any, Any] = {}
        self.lsm_fds: dict[Any, Any] = {}
        self.perf_buffers: dict[Any, Any] = {}
        self.open_perf_events: dict[Any, Any] = {}
        self._ringbuf_manager = None
        self.tracefile = None
        self.debug = 0
        self.tables: dict[bytes, Any] = {}
        self.module = None
        self.funcs = {
            name.encode(): BPF.Function(self, name.encode(), fd) for name, fd in functions.items()
        }
        self._order = [name.encode() for name in functions]
        self._maps = {name.encode(): entry for name, entry in maps.items()}
        self._templates = templates or Templates({}, {})
        atexit.register(self.cleanup)

    def attach_loaded(self) -> None:
        """Attach every program whose name says where, as bcc does after compiling."""
        for name in self._order:
            if name.startswith(b"kprobe__"):
                self.attach_kprobe(event=self.fix_syscall_fnname(name[8:]), fn_name=name)
            elif name.startswith(b"kretprobe__"):
                self.attach_kretprobe(event=self.fix_syscall_fnname(name[11:]), fn_name=name)
            elif name.startswith(b"tracepoint__"):
                tp = name[len(b"tracepoint__") :].replace(b"__", b":")
                self.attach_tracepoint(tp=tp, fn_name=name)
            elif name.startswith(b"raw_tracepoint__"):
                self.attach_raw_tracepoint(tp=name[len(b"raw_tracepoint__") :], fn_name=name)
            elif name.startswith(b"kfunc__"):
                self.attach_kfunc(fn_name=name)
            elif name.startswith(b"kretfunc__"):
                self.attach_kretfunc(fn_name=name)
            elif name.startswith(b"lsm__"):
                self.attach_lsm(fn_name=name)

    def load_func(
        self, func_name: Any, prog_type: int, device: Any = None, attach_type: int = -1
    ) -> Any:
        name = func_name if isinstance(func_name, bytes) else func_name.encode()
        if name not in self.funcs:
            raise Exception(f"program {name.decode()} was not loaded by the compiler process")
        return self.funcs[name]

    def instructions(self, name: str) -> bytes:
        """A template's instructions (CompileRequest.templates), its map references
        turned from the compiler process's fd numbers into this process's, ready to
        load as often as needed."""
        by_name = self._templates.map_names
        return relocate(
            self._templates.instructions[name], lambda fd: self._maps[by_name[fd].encode()][1]
        )

    def get_table(
        self, name: Any, keytype: Any = None, leaftype: Any = None, reducer: Any = None
    ) -> Any:
        name = name if isinstance(name, bytes) else name.encode()
        facts, fd = self._maps[name]
        keytype = keytype or BPF._decode_table_type(json.loads(facts.key_desc))
        leaftype = leaftype or BPF._decode_table_type(json.loads(facts.leaf_desc))
        real_lib = bcc.table.lib
        bcc.table.lib = _ModuleFacts(facts)
        try:
            table = bcc.table.Table(
                self, facts.map_id, fd, keytype, leaftype, name, reducer=reducer
            )
            if isinstance(table, bcc.table.RingBuf) and facts.event_fields:
                table._event_class = bcc.table._get_event_class(table)
        finally:
            bcc.table.lib = real_lib
        return table

    def cleanup(self) -> None:
        """bcc's cleanup, then the map fds, which bcc's module would have closed."""
        try:
            super().cleanup()
        finally:
            for _facts, fd in self._maps.values():
                os.close(fd)
            self._maps = {}
