"""bpftop's own XDP program (bpf/xdp_counter.c): attach through a bpf_link, drop rules,
counts. Only ever attached where no XDP program is; gone with bpftop's last fd."""

from __future__ import annotations

import ctypes
import ipaddress
import os
import sys
from typing import Any

from bpftop.core.resources import bpf_dir
from bpftop.core.xdp_rules import DropRule
from bpftop.loader import libbpf
from bpftop.loader.compiler import COMPILER, PROG_TYPE_XDP, CompileRequest

PROGRAM_NAME = "bpftop_xdp"  # what `ip link` and bpftool show; how leftovers are known
MAX_RULES = 16
BPF_XDP = 37  # enum bpf_attach_type
COUNT_SLOTS = ("pass", "drop", "tcp", "udp", "icmp", "other_ip", "not_ip")


class XdpCounter:
    """One attachment on one interface. Call from the BPF thread only."""

    def __init__(self, ifname: str, ifindex: int) -> None:
        self.ifname = ifname
        self.ifindex = ifindex
        self.rules: list[DropRule] = []
        self._bpf: Any = None
        self._link_fd = -1
        self.prog_id = 0

    def attach(self) -> None:
        source = str(bpf_dir() / "xdp_counter.c")
        bpf = COMPILER.load(CompileRequest(source, (f"-I{bpf_dir()}",), PROG_TYPE_XDP))
        try:
            fn = bpf.load_func(PROGRAM_NAME.encode(), PROG_TYPE_XDP)
            link = libbpf.lib().bpf_link_create(fn.fd, self.ifindex, BPF_XDP, None)
            if link < 0:
                raise libbpf.error(f"cannot attach to {self.ifname}")
            self.prog_id = libbpf.prog_stats(fn.fd)[0]
        except Exception:
            bpf.cleanup()
            raise
        self._bpf, self._link_fd = bpf, link
        self._write_rules()

    def set_rules(self, rules: list[DropRule]) -> None:
        if len(rules) > MAX_RULES:
            raise ValueError(f"at most {MAX_RULES} drop rules")
        self.rules = list(rules)
        if self._bpf is not None:
            self._write_rules()

    def _write_rules(self) -> None:
        table = self._bpf[b"rules"]
        for slot in range(MAX_RULES):
            leaf = table.Leaf()
            if slot < len(self.rules):
                rule = self.rules[slot]
                leaf.used = 1
                leaf.proto = rule.proto
                leaf.port = rule.port
                if rule.network is not None:  # network byte order, as the packet has it
                    leaf.src = int.from_bytes(rule.network.network_address.packed, sys.byteorder)
                    leaf.mask = int.from_bytes(rule.network.netmask.packed, sys.byteorder)
            table[ctypes.c_int(slot)] = leaf

    def totals(self) -> tuple[dict[str, int], list[int]]:
        """Running totals: per counter slot, and drops per rule."""
        counts = self._bpf[b"xdp_counts"]
        drops = self._bpf[b"rule_drops"]
        by_slot = {name: int(sum(counts[ctypes.c_int(i)])) for i, name in enumerate(COUNT_SLOTS)}
        per_rule = [int(sum(drops[ctypes.c_int(i)])) for i in range(len(self.rules))]
        return by_slot, per_rule

    def prog_fds(self) -> list[int]:
        return [fn.fd for fn in self._bpf.funcs.values()] if self._bpf is not None else []

    def source_totals(self) -> dict[str, int]:
        """Running packet totals per IPv4 source (bounded: old sources age out)."""
        out: dict[str, int] = {}
        for key, per_cpu in self._bpf[b"sources"].items():
            addr = str(ipaddress.IPv4Address(int(key.value).to_bytes(4, sys.byteorder)))
            out[addr] = int(sum(per_cpu))
        return out

    def detach(self) -> None:
        if self._link_fd >= 0:
            os.close(self._link_fd)  # the kernel detaches with the link's last fd
            self._link_fd = -1
        if self._bpf is not None:
            self._bpf.cleanup()
            self._bpf = None
