"""XDP per interface: which program is attached and by whom, the driver's own XDP
counters (so a foreign program's drops show without touching it), the kernel's XDP
exception and redirect-error tracepoints (bpf/xdp.c), and, where the user asks,
bpftop's own counting XDP program with drop rules (bpf/xdp_counter.c).

bpftop never replaces, detaches or changes an XDP program it did not attach: its own
goes on only where an interface has none, through a bpf_link that dies with bpftop.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import replace
from typing import Any

from bpftop.core.records import XDP_ACTIONS, Record, XdpRecord
from bpftop.core.xdp_rules import ControlArg, DropRule, XdpRule
from bpftop.host.interfaces import Link, LinkReader, driver_xdp_actions
from bpftop.loader import libbpf
from bpftop.loader.compiler import CompileRequest
from bpftop.loader.fexit_on_prog import FexitOnProg
from bpftop.loader.stats import BpfStats
from bpftop.probes.base import PlanStep, Probe
from bpftop.probes.deltas import RunningTotals, deltas_of
from bpftop.probes.xdp_counter import PROGRAM_NAME, XdpCounter

# fexit on foreign XDP programs: a template in bpf/xdp.c, loaded once per program
# (FexitOnProg) with this placeholder patched to the program's id.
FEXIT_TEMPLATE = "xdp_fexit"
FEXIT_TARGET = 0x5B7E7A26
TOP_SOURCES = 5  # busiest IPv4 sources per interval in bpftop's own records
# `what` (and `action`) in bpf/xdp.c: 0-4 the action, 5 invalid, 6 a redirect error
TRACEPOINT_WHAT = {0: "aborted", 1: "drop", 2: "pass", 3: "tx", 4: "redirect", 5: "aborted",
                   6: "redirect"}  # fmt: skip


def _action_totals(table: Any, by: str, what: str) -> dict[int, dict[str, int]]:
    """A per-CPU map of counts keyed by (`by`, `what`), summed: {by: {action: n}}."""
    out: dict[int, dict[str, int]] = {}
    for key, per_cpu in table.items():
        action = TRACEPOINT_WHAT.get(int(getattr(key, what)), "aborted")
        counts = out.setdefault(int(getattr(key, by)), {})
        counts[action] = counts.get(action, 0) + int(sum(per_cpu))
    return out


class XdpProbe(Probe):
    kernel_filter = False  # interfaces, not tasks: its filter is dev=, in user space
    name = "xdp"
    title = "XDP"
    source = "xdp.c"
    plan = (
        # Where tracing programs load: also every action of each foreign XDP program,
        # from fexit on it (drivers without XDP counters, actions they do not count).
        PlanStep(
            via="netlink + ethtool stats + tracepoint:xdp:xdp_exception"
            " + fexit on foreign XDP programs",
            tracepoints=("xdp:xdp_exception", "xdp:xdp_redirect_err"),
            prog_type="tracing",
        ),
        PlanStep(
            via="netlink + ethtool stats + tracepoint:xdp:xdp_exception",
            tracepoints=("xdp:xdp_exception", "xdp:xdp_redirect_err"),
        ),
    )
    counter_names = ("lost",)  # nothing is sent per packet
    lost_counter = "lost"
    controls = ("attach", "detach", "rule", "clear_rules")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._links = LinkReader()
        self._names: BpfStats | None = None
        # Running totals per interface (by ifindex): packets, driver and tracepoint counts.
        self._packets: dict[int, RunningTotals[str, int]] = {}
        self._driver: dict[int, RunningTotals[str, int]] = {}
        self._tracepoint: dict[int, RunningTotals[str, int]] = {}
        # Interfaces whose driver has no XDP counters: not asked again every interval
        # (an ethtool ioctl each); forgotten with the interface, like the totals.
        self._no_driver_xdp: dict[int, bool] = {}
        # bpftop's own counter: where the user wants it (kept across stop/start) and
        # where it is attached now, with the running totals of the last interval.
        self._wanted: dict[str, list[DropRule]] = {}
        self._counters: dict[str, XdpCounter] = {}
        self._own_counts: dict[str, RunningTotals[str, int]] = {}  # by interface name
        self._own_rules: dict[str, RunningTotals[int, int]] = {}
        self._own_sources: dict[str, RunningTotals[str, int]] = {}
        # fexit on foreign XDP programs, by program id, while one is on an interface;
        # why a program could not be traced (no BTF, say), so it is not tried again.
        self._fexits: dict[int, FexitOnProg] = {}
        self._untraceable: dict[int, str] = {}
        self._fexit_counts: dict[int, RunningTotals[str, int]] = {}  # by program id
        self._refused_counters: list[str] = []  # at start: the reasons, for the notice

    def on_started(self) -> None:
        self._packets, self._driver, self._tracepoint = {}, {}, {}
        self._fexit_counts, self._untraceable = {}, {}
        self._no_driver_xdp = {}
        self._names = BpfStats()
        self._sweep_leftovers()
        refused = []
        for ifname in list(self._wanted):
            try:
                self._attach_counter(ifname)
            except (OSError, ValueError) as exc:  # the probe itself still runs
                refused.append(str(exc))
        self._refused_counters = refused
        self.notice = "; ".join(refused) or None
        self.interval_records(0.0)  # the baseline: the first real interval is a delta

    def stop(self) -> None:
        for counter in self._counters.values():
            counter.detach()
        self._counters.clear()
        for fexit in self._fexits.values():
            fexit.close()
        self._fexits.clear()
        for store in (self._own_counts, self._own_rules, self._own_sources):
            store.clear()
        super().stop()
        self._links.close()

    def compile_request(self, step: PlanStep) -> CompileRequest:
        return dataclasses.replace(super().compile_request(step), templates=(FEXIT_TEMPLATE,))

    def prog_fds(self) -> list[int]:
        own = [fd for c in self._counters.values() for fd in c.prog_fds()]
        fexits = [f.prog_fd for f in self._fexits.values()]
        return super().prog_fds() + own + fexits

    # -- bpftop's own XDP program ------------------------------------------------------
    def control(self, action: str, arg: ControlArg) -> None:
        if action == "rule":
            if not isinstance(arg, XdpRule):
                raise ValueError(f"xdp: a rule is an XdpRule, not {arg!r}")
            self._set_rules(arg.ifname, [*self._wanted.get(arg.ifname, []), arg.rule])
            return
        if not isinstance(arg, str):
            raise ValueError(f"xdp: {action} takes an interface name, not {arg!r}")
        if action == "attach":
            self._wanted.setdefault(arg, [])
            if self.active:
                self._attach_counter(arg)
        elif action == "detach":
            self._wanted.pop(arg, None)
            counter = self._counters.pop(arg, None)
            if counter is not None:
                counter.detach()
        elif action == "clear_rules":
            self._set_rules(arg, [])
        else:
            super().control(action, arg)

    def _set_rules(self, ifname: str, rules: list[DropRule]) -> None:
        if ifname not in self._wanted:
            raise ValueError(f"bpftop's XDP program is not on {ifname}: attach it first")
        counter = self._counters.get(ifname)
        if counter is not None:
            counter.set_rules(rules)  # raises before anything changes if too many
        self._wanted[ifname] = rules

    def _attach_counter(self, ifname: str) -> None:
        """Attach where the interface exists and has no XDP program; else say why."""
        if ifname in self._counters:
            return
        link = next((x for x in self._links.links() if x.ifname == ifname), None)
        if link is None:
            self._wanted.pop(ifname, None)
            raise ValueError(f"no interface {ifname}")
        if link.xdp_prog_id is not None:
            self._wanted.pop(ifname, None)
            name = self._names.prog_name(link.xdp_prog_id) if self._names else None
            raise ValueError(
                f"{ifname} already has an XDP program (id {link.xdp_prog_id}, {name or '?'}):"
                " bpftop never replaces one"
            )
        counter = XdpCounter(ifname, link.ifindex)
        counter.set_rules(self._wanted.get(ifname, []))
        try:
            counter.attach()
        except OSError:
            self._wanted.pop(ifname, None)  # not retried at the next start either
            raise
        self._counters[ifname] = counter

    def _sweep_leftovers(self) -> None:
        """Remove bpftop XDP programs an older version attached through netlink (they
        outlive their process). Only programs named bpftop_xdp, never anything else;
        one attached through a live bpf_link (another bpftop) refuses, and stays."""
        for link in self._links.links():
            if link.xdp_prog_id is None or self._names is None:
                continue
            if self._names.prog_name(link.xdp_prog_id) == PROGRAM_NAME:
                self._links.detach_netlink_xdp(link.ifindex)

    def decode(self, event: Any, data: int) -> None:
        return None  # bpf/xdp.c sends no events

    def interval_records(self, interval_s: float) -> list[Record]:
        if self._bpf is None:
            return []
        ts = time.time()
        exceptions = _action_totals(self._bpf[b"xdp_events"], "ifindex", "what")
        actions = _action_totals(self._bpf[b"fexit_actions"], "prog_id", "action")
        links = self._links.links()
        self._trace_foreign_programs(links)
        seen = {link.ifindex for link in links}
        for table in (
            self._packets,
            self._driver,
            self._tracepoint,
            self._no_driver_xdp,
        ):
            for gone in [i for i in table if i not in seen]:
                del table[gone]  # an interface that vanished is simply not reported
        # Nor counted on, should its ifindex come back for another interface.
        table = self._bpf[b"xdp_events"]
        for key in [k for k in table if int(k.ifindex) not in seen]:
            del table[key]
        for ifname in [n for n, c in self._counters.items() if c.ifindex not in seen]:
            self._counters.pop(ifname).detach()  # its interface is gone
            self._wanted.pop(ifname, None)
        # A program on several interfaces: its counts go to the first of them only.
        first: dict[int | None, int] = {}
        for link in sorted(links, key=lambda x: x.ifindex):
            first.setdefault(link.xdp_prog_id, link.ifindex)
        records: list[Record] = []
        for link in links:
            traced = link.xdp_prog_id in self._fexits and first[link.xdp_prog_id] == link.ifindex
            verdicts = actions.get(link.xdp_prog_id or 0, {}) if traced else None
            records.extend(
                self._link_records(ts, interval_s, link, exceptions.get(link.ifindex), verdicts)
            )
            if link.ifname in self._counters:
                records.append(self._own_record(ts, interval_s, link, self._counters[link.ifname]))
        return [] if interval_s <= 0 else records

    def _own_record(
        self, ts: float, interval_s: float, link: Link, counter: XdpCounter
    ) -> XdpRecord:
        counts, per_rule = counter.totals()
        sources = counter.source_totals()
        # The first read is the zero (as everywhere in this probe: on_started reads once).
        ifname = link.ifname
        delta = deltas_of(self._own_counts, ifname, counts, counted_before=True)
        grew = deltas_of(self._own_sources, ifname, sources, counted_before=True)
        drops = deltas_of(self._own_rules, ifname, dict(enumerate(per_rule)), counted_before=True)
        top = sorted(((n, src) for src, n in grew.items() if n > 0), reverse=True)[:TOP_SOURCES]
        rules = [{"rule": rule.text, "drops": drops[i]}
                 for i, rule in enumerate(counter.rules) if i in drops]  # fmt: skip
        return XdpRecord(
            ts=ts,
            ifname=link.ifname,
            ifindex=link.ifindex,
            interval_s=round(interval_s, 3),
            state=link.state,
            rx_pps=0.0,
            tx_pps=0.0,
            prog=self._program(link),
            actions={"pass": delta["pass"], "drop": delta["drop"], "tx": 0, "redirect": 0,
                     "aborted": 0},
            source="bpftop",
            protocols={k: delta[k] for k in ("tcp", "udp", "icmp", "other_ip", "not_ip")},
            rules=rules,
            top_sources=[{"src": src, "packets": n} for n, src in top],
        )  # fmt: skip

    # -- fexit on foreign XDP programs -------------------------------------------------
    def _trace_foreign_programs(self, links: list[Link]) -> None:
        """fexit on every foreign XDP program on an interface now, where the step has
        tracing programs; off a program as soon as no interface has it (an fexit
        program holds its target loaded)."""
        own = {c.prog_id for c in self._counters.values()}
        foreign = {x.xdp_prog_id for x in links if x.xdp_prog_id and x.xdp_prog_id not in own}
        for prog_id in [p for p in self._fexits if p not in foreign]:
            self._forget_fexit(prog_id)
        for prog_id in [p for p in self._untraceable if p not in foreign]:
            del self._untraceable[prog_id]
        new = sorted(foreign - self._fexits.keys() - self._untraceable.keys())
        if self.step is self.plan[0] and new:
            self._attach_fexits(new)
        self.notice = "; ".join([*self._refused_counters, *self._untraceable.values()]) or None

    def _attach_fexits(self, prog_ids: list[int]) -> None:
        template = self._bpf.instructions(FEXIT_TEMPLATE)
        for prog_id in prog_ids:
            code = libbpf.patch_immediate(template, FEXIT_TARGET, prog_id)
            try:
                self._fexits[prog_id] = FexitOnProg(code, FEXIT_TEMPLATE, prog_id)
            except OSError as exc:
                self._untraceable[prog_id] = exc.strerror or str(exc)

    def _forget_fexit(self, prog_id: int) -> None:
        """A program no longer traced: its counts go, so a later trace starts at 0."""
        self._fexits.pop(prog_id).close()
        self._fexit_counts.pop(prog_id, None)
        table = self._bpf[b"fexit_actions"]
        for key in [k for k in table if int(k.prog_id) == prog_id]:
            del table[key]

    def _link_records(
        self,
        ts: float,
        interval_s: float,
        link: Link,
        exceptions: dict[str, int] | None,
        fexit_actions: dict[str, int] | None,
    ) -> list[XdpRecord]:
        now = {"rx": link.rx_packets, "tx": link.tx_packets}
        packets = deltas_of(self._packets, link.ifindex, now, counted_before=True)
        per_s = (lambda n: round(n / interval_s, 1)) if interval_s > 0 else (lambda n: 0.0)
        base = XdpRecord(
            ts=ts,
            ifname=link.ifname,
            ifindex=link.ifindex,
            interval_s=round(interval_s, 3),
            state=link.state,
            rx_pps=per_s(packets["rx"]),
            tx_pps=per_s(packets["tx"]),
            prog=self._program(link),
        )
        out = []
        driver = None
        if link.ifindex not in self._no_driver_xdp:  # its driver has no XDP counters
            driver = driver_xdp_actions(self._links.driver_stats(link.ifname))
            if driver is None:
                self._no_driver_xdp[link.ifindex] = True
        if driver is not None:
            # The driver counted before bpftop looked: its first read is the zero.
            delta = deltas_of(self._driver, link.ifindex, driver, counted_before=True)
            actions = {a: delta.get(a) for a in XDP_ACTIONS}
            out.append(replace(base, actions=actions, source="driver"))
        if exceptions is not None:
            # The kernel's counts start at zero with the probe: the first are news.
            delta = deltas_of(self._tracepoint, link.ifindex, exceptions, counted_before=False)
            actions = {a: delta.get(a, 0) for a in XDP_ACTIONS}
            out.append(replace(base, actions=actions, source="tracepoint"))
        if fexit_actions is not None and link.xdp_prog_id is not None:
            delta = deltas_of(self._fexit_counts, link.xdp_prog_id, fexit_actions,
                              counted_before=False)  # fmt: skip
            actions = {a: delta.get(a, 0) for a in XDP_ACTIONS}
            out.append(replace(base, actions=actions, source="fexit"))
        return out or [base]

    def _program(self, link: Link) -> dict[str, Any] | None:
        if link.xdp_prog_id is None:
            return None
        name = self._names.prog_name(link.xdp_prog_id) if self._names else None
        own = {c.prog_id for c in self._counters.values()}
        owner = "bpftop" if link.xdp_prog_id in own else "foreign"
        return {"id": link.xdp_prog_id, "name": name, "mode": link.xdp_mode, "owner": owner}
