"""Drop rules for bpftop's own XDP program, as the user writes them (--xdp-drop, the
XDP pane's d key) and as the probe takes them: parsed once, typed from there on."""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass

PROTOCOLS = {"tcp": socket.IPPROTO_TCP, "udp": socket.IPPROTO_UDP, "icmp": socket.IPPROTO_ICMP}


@dataclass(frozen=True)
class DropRule:
    text: str  # as the user wrote it
    proto: int = 0
    port: int = 0
    network: ipaddress.IPv4Network | None = None


def parse_rule(text: str) -> DropRule:
    """ "udp:9999", "tcp", "icmp", "src:10.0.0.0/8", or several joined with ","."""
    proto = port = 0
    network = None
    for part in text.strip().lower().split(","):
        kind, _, value = part.partition(":")
        if kind in PROTOCOLS and not (kind == "icmp" and value):
            proto = PROTOCOLS[kind]
            if value:
                if not value.isdigit() or not 0 < int(value) < 65536:
                    raise ValueError(f"bad port {value!r} in drop rule {text!r}")
                port = int(value)
        elif kind == "src" and value:
            try:
                network = ipaddress.IPv4Network(value, strict=False)
            except ValueError:
                raise ValueError(f"bad IPv4 network {value!r} in drop rule {text!r}") from None
        else:
            raise ValueError(
                f"bad drop rule {text!r}: use udp:PORT, tcp:PORT, udp, tcp, icmp or src:CIDR"
            )
    return DropRule(text.strip(), proto, port, network)


@dataclass(frozen=True)
class XdpRule:
    """A drop rule for the program on one interface: what the XDP probe's "rule"
    control takes."""

    ifname: str
    rule: DropRule


# What a probe control takes (engine.control): text (an interface, a uprobe spec), or a
# drop rule parsed where the user typed it.
ControlArg = str | XdpRule
