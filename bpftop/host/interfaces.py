"""Network interfaces through netlink (pyroute2): state, packet counters, the XDP
program attached and how, and the driver's own XDP counters (ethtool statistics)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

XDP_FLAGS_SKB_MODE = 2  # generic XDP, uapi/linux/if_link.h
XDP_MODES = {"xdp": "driver", "xdpgeneric": "generic", "xdpoffload": "offload", "multi": "multi"}
# Driver statistics names that carry XDP actions: veth's rx_queue_0_xdp_drops, virtio's
# rx_queue_0_xdp_redirects, mlx5's rx_xdp_drop, rx_xdp_tx_xmit, ... Errors are not actions.
_DRIVER_XDP = re.compile(r"xdp_(drops?|redirects?|tx(?:_xmit)?|aborted|pass)$")
_ACTION_OF = {"drop": "drop", "drops": "drop", "redirect": "redirect", "redirects": "redirect",
              "tx": "tx", "tx_xmit": "tx", "aborted": "aborted", "pass": "pass"}  # fmt: skip


@dataclass(frozen=True)
class Link:
    ifindex: int
    ifname: str
    state: str
    rx_packets: int
    tx_packets: int
    xdp_prog_id: int | None
    xdp_mode: str | None  # driver | generic | offload | multi


def _nla(msg: Any, name: str) -> Any:
    try:
        return msg.get_attr(name)
    except AttributeError:  # pyroute2 may hand nested attributes over as plain dicts
        return dict(msg.get("attrs", ())).get(name) if isinstance(msg, dict) else None


def driver_xdp_actions(stats: dict[str, int]) -> dict[str, int] | None:
    """Sum a driver's XDP counters per action over its queues; None if it has none."""
    out: dict[str, int] = {}
    for name, value in stats.items():
        match = _DRIVER_XDP.search(name.lower())
        if match:
            action = _ACTION_OF[match.group(1)]
            out[action] = out.get(action, 0) + int(value)
    return out or None


class LinkReader:
    """One netlink socket, opened on first use in the BPF thread and closed with the probe."""

    def __init__(self) -> None:
        self._ipr: Any = None

    def links(self) -> list[Link]:
        if self._ipr is None:
            from pyroute2 import IPRoute

            self._ipr = IPRoute()
        out = []
        for msg in self._ipr.get_links():
            stats = msg.get_attr("IFLA_STATS64")
            xdp = msg.get_attr("IFLA_XDP")
            attached = _nla(xdp, "IFLA_XDP_ATTACHED") if xdp is not None else None
            out.append(
                Link(
                    ifindex=int(msg["index"]),
                    ifname=str(msg.get_attr("IFLA_IFNAME")),
                    state=str(msg.get_attr("IFLA_OPERSTATE") or "UNKNOWN"),
                    rx_packets=int(stats["rx_packets"]) if stats else 0,
                    tx_packets=int(stats["tx_packets"]) if stats else 0,
                    xdp_prog_id=_nla(xdp, "IFLA_XDP_PROG_ID") if attached else None,
                    xdp_mode=XDP_MODES.get(str(attached)) if attached else None,
                )
            )
        return out

    def driver_stats(self, ifname: str) -> dict[str, int]:
        """The driver's ethtool statistics; empty where it has none (lo, gone)."""
        from pyroute2.ethtool.ioctl import IoctlEthtool

        try:
            ethtool = IoctlEthtool(ifname)
        except Exception:
            return {}
        try:
            return {str(k): int(v) for k, v in dict(ethtool.get_statistics()).items()}
        except Exception:  # no stats (EOPNOTSUPP), or the interface went away meanwhile
            return {}
        finally:
            ethtool.close()

    def detach_netlink_xdp(self, ifindex: int) -> bool:
        """Detach a netlink-attached XDP program (the kernel refuses for a bpf_link)."""
        for flags in (None, XDP_FLAGS_SKB_MODE):
            try:
                if flags is None:
                    self._ipr.link("set", index=ifindex, xdp_fd=-1)
                else:
                    self._ipr.link("set", index=ifindex, xdp_fd=-1, xdp_flags=flags)
                return True
            except Exception:
                continue
        return False

    def close(self) -> None:
        if self._ipr is not None:
            self._ipr.close()
            self._ipr = None
