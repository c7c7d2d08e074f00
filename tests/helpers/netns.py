"""A veth pair into a network namespace made by the test (pyroute2), quiet enough to
count packets exactly: IPv6 off on both ends, a static neighbour instead of ARP."""

from __future__ import annotations

import ctypes
import os
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pyroute2 import IPRoute, netns

ROOT = Path(__file__).resolve().parent.parent.parent
NUD_PERMANENT = 0x80
PEER_MAC = "02:62:74:00:00:02"  # locally administered
BPF_XDP = 37  # enum bpf_attach_type


@dataclass(frozen=True)
class VethPair:
    netns: str
    host_if: str  # in this namespace
    host_ifindex: int
    host_ip: str
    peer_ip: str  # the peer end, inside `netns`


def _ipv6_off(ifname: str) -> None:
    Path(f"/proc/sys/net/ipv6/conf/{ifname}/disable_ipv6").write_text("1")


def _helper(*args: str) -> None:
    """Run the netns plumbing in a fresh, single-threaded interpreter: pyroute2 forks
    for namespaces, and forking the test process (bcc and Textual threads) can hang."""
    subprocess.run(
        [sys.executable, "-m", "tests.helpers.netns", *args], check=True, timeout=60, cwd=ROOT
    )


@contextmanager
def veth_pair() -> Iterator[VethPair]:
    tag = uuid.uuid4().hex[:6]
    pair = VethPair(f"bpftop-test-{tag}", f"bt{tag}a", 0, "10.213.7.1", "10.213.7.2")
    _helper("up", tag)
    try:
        with IPRoute() as ipr:
            index = ipr.link_lookup(ifname=pair.host_if)[0]
        yield VethPair(pair.netns, pair.host_if, index, pair.host_ip, pair.peer_ip)
    finally:
        _helper("down", tag)


def send_udp(pair: VethPair, count: int, port: int = 9999) -> None:
    """Exactly `count` UDP datagrams from inside the namespace to the host end."""
    _helper("send", pair.netns, pair.host_ip, str(port), str(count))


def _up(tag: str) -> None:
    name, host_if, peer_if = f"bpftop-test-{tag}", f"bt{tag}a", f"bt{tag}b"
    netns.create(name)
    with IPRoute() as ipr:
        peer = {"ifname": peer_if, "net_ns_fd": name, "address": PEER_MAC}
        ipr.link("add", ifname=host_if, kind="veth", peer=peer)
        index = ipr.link_lookup(ifname=host_if)[0]
        _ipv6_off(host_if)
        ipr.addr("add", index=index, address="10.213.7.1", prefixlen=24)
        # Both ways static: no ARP at all (the host answers UDP to a closed port with
        # ICMP, which would otherwise make it ask for the peer's address).
        ipr.neigh("add", dst="10.213.7.2", lladdr=PEER_MAC, ifindex=index, state=NUD_PERMANENT)
        ipr.link("set", index=index, state="up")
        mac = ipr.get_links(index)[0].get_attr("IFLA_ADDRESS")
    netns.setns(name)  # this helper process only: the rest happens inside
    _ipv6_off(peer_if)
    with IPRoute() as ns:
        peer = ns.link_lookup(ifname=peer_if)[0]
        ns.addr("add", index=peer, address="10.213.7.2", prefixlen=24)
        ns.link("set", index=peer, state="up")
        ns.neigh("add", dst="10.213.7.1", lladdr=mac, ifindex=peer, state=NUD_PERMANENT)


def _down(tag: str) -> None:
    with IPRoute() as ipr:
        for index in ipr.link_lookup(ifname=f"bt{tag}a"):
            ipr.link("del", index=index)
    netns.remove(f"bpftop-test-{tag}")


def _send(name: str, ip: str, port: int, count: int) -> None:
    netns.setns(name)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for i in range(count):
            s.sendto(b"bpftop %d" % i, (ip, port))


def xdp_prog_id(ifindex: int) -> int | None:
    """The id of the XDP program on an interface, as netlink reports it."""
    with IPRoute() as ipr:
        xdp = ipr.get_links(ifindex)[0].get_attr("IFLA_XDP")
    attrs = dict(xdp.get("attrs", ())) if isinstance(xdp, dict) else {}
    if not attrs and xdp is not None:
        attrs = {"IFLA_XDP_PROG_ID": xdp.get_attr("IFLA_XDP_PROG_ID")}
    return attrs.get("IFLA_XDP_PROG_ID")


def compiling_bcc() -> Any:
    """bcc's BPF class with its compiler, for a test's own programs (bpftop's
    process imports bcc without it: bpftop/loader/bcc_without_compiler.py)."""
    from bpftop.loader.bcc_without_compiler import using_real_libbcc

    using_real_libbcc()
    from bcc import BPF

    return BPF


DROP_ALL = b"int xdp_drop_all(struct xdp_md *ctx) { return XDP_DROP; }"
# UDP to port 9999 dropped, to 7777 aborted (an exception), everything else passed.
BY_PORT = b"""
#include <uapi/linux/if_ether.h>
#include <uapi/linux/ip.h>
#include <uapi/linux/in.h>
#include <uapi/linux/udp.h>
int xdp_by_port(struct xdp_md *ctx)
{
    void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
    struct ethhdr *eth = data;
    if ((void *)(eth + 1) > end || eth->h_proto != htons(ETH_P_IP))
        return XDP_PASS;
    struct iphdr *ip = (void *)(eth + 1);
    if ((void *)(ip + 1) > end || ip->protocol != IPPROTO_UDP)
        return XDP_PASS;
    struct udphdr *udp = (void *)ip + ip->ihl * 4;
    if ((void *)(udp + 1) > end)
        return XDP_PASS;
    if (udp->dest == htons(9999))
        return XDP_DROP;
    return udp->dest == htons(7777) ? XDP_ABORTED : XDP_PASS;
}
"""


@contextmanager
def foreign_xdp_drop(
    ifindex: int, source: bytes = DROP_ALL, name: bytes = b"xdp_drop_all"
) -> Iterator[None]:
    """Someone else's XDP program (the test's own, via bcc; by default dropping
    everything) on `ifindex`, attached through a bpf_link so it goes away with this
    process. bcc loads it with BTF, as clang-built programs usually are."""
    BPF = compiling_bcc()

    bpf = BPF(text=source)
    fn = bpf.load_func(name, BPF.XDP)
    lib = ctypes.CDLL("libbpf.so.1", use_errno=True)
    lib.bpf_link_create.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_void_p]
    link = lib.bpf_link_create(fn.fd, ifindex, BPF_XDP, None)
    assert link >= 0, f"bpf_link_create failed: errno {ctypes.get_errno()}"
    try:
        yield
    finally:
        os.close(link)
        bpf.cleanup()


if __name__ == "__main__":
    command, *rest = sys.argv[1:]
    if command == "up":
        _up(rest[0])
    elif command == "down":
        _down(rest[0])
    elif command == "send":
        _send(rest[0], rest[1], int(rest[2]), int(rest[3]))
