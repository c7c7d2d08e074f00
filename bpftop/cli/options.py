"""The command line's choices, checked and frozen: built once from argparse's
Namespace, which nothing changes afterwards."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

from bpftop.catalog import PID_PROBE_NAMES, PROBE_NAMES
from bpftop.core.filters import Filter, FilterError, parse_filter
from bpftop.core.xdp_rules import DropRule

# (option, filter term, metavar): each option is one term of the filter expression.
FILTER_OPTIONS = (
    ("pid", "pid=", "PID"),
    ("comm", "comm=", "GLOB"),
    ("user", "user=", "NAME"),
    ("uid", "uid=", "UID"),
    ("cgroup", "cgroup=", "PATH"),
    ("container", "container=", "ID"),
    ("port", "port=", "PORT"),
    ("dev", "dev=", "NAME"),
    ("lat", "lat>", "DURATION"),
)
# Options that act on the live box: a replay refuses them (by argparse dest).
LIVE_ONLY = ("record", "bundle", "serve", "metrics_labels", "probes", "uprobe",
             "xdp_attach", "xdp_drop", "filter",
             *(option for option, _term, _meta in FILTER_OPTIONS))  # fmt: skip


@dataclass(frozen=True)
class Options:
    json: bool
    check: bool
    serve: tuple[str, int] | None
    metrics_labels: str | None
    probes: tuple[str, ...]  # what attaches at start, --xdp-attach and --uprobe included
    uprobes: tuple[str, ...]
    uprobe_budget: float
    duration: float | None
    interval: float
    disk_slow_ms: float
    exec_failures: bool
    xdp_attach: tuple[str, ...]
    xdp_drop: tuple[DropRule, ...]
    user_filter: Filter
    record: Path | None
    replay: Path | None
    demo: bool
    bundle: Path | None
    history_minutes: float
    theme: str | None  # a registered theme's full name

    @property
    def headless(self) -> bool:
        return bool(self.json or self.bundle or self.serve)

    @property
    def pid_probes(self) -> tuple[str, ...]:
        """The probes that need --pid, among those asked for."""
        wanted = [name for name in PID_PROBE_NAMES if name in self.probes]
        if self.uprobes and "uprobes" not in wanted:
            wanted.append("uprobes")
        return tuple(wanted)


def probes_to_attach(args: argparse.Namespace) -> tuple[str, ...]:
    """--probes, or the default: headless, --uprobe alone means just the uprobes; the
    TUI's drilldown starts the per-pid probes itself (and detaches them when it closes).
    --uprobe headless and --xdp-attach add their probes."""
    if args.probes is None:
        chosen = ["uprobes"] if args.uprobe and args.json else list(PROBE_NAMES)
    else:
        chosen = list(args.probes)
    if args.uprobe and args.json and "uprobes" not in chosen:
        chosen.append("uprobes")
    if args.xdp_attach and "xdp" not in chosen:
        chosen.append("xdp")
    return tuple(chosen)


def filter_from_args(args: argparse.Namespace) -> Filter:
    """--filter and the per-term options make one expression, parsed by the bar's parser."""
    terms = [args.filter or ""]
    for option, term, _meta in FILTER_OPTIONS:
        value = getattr(args, option)
        if value is not None:
            if not value.strip() or any(c.isspace() for c in value):
                raise FilterError(f"--{option} needs one value without spaces: {value!r}")
            terms.append(term + value)
    return parse_filter(" ".join(terms))


def options_from(args: argparse.Namespace, theme: str | None, user_filter: Filter) -> Options:
    return Options(
        json=args.json,
        check=args.check,
        serve=args.serve,
        metrics_labels=args.metrics_labels,
        probes=probes_to_attach(args),
        uprobes=tuple(args.uprobe),
        uprobe_budget=args.uprobe_budget,
        duration=args.duration,
        interval=args.interval,
        disk_slow_ms=args.disk_slow_ms,
        exec_failures=args.exec_failures == "on",
        xdp_attach=tuple(args.xdp_attach),
        xdp_drop=tuple(args.xdp_drop),
        user_filter=user_filter,
        record=args.record,
        replay=args.replay,
        demo=args.demo,
        bundle=args.bundle,
        history_minutes=args.history,
        theme=theme,
    )


def replay_clashes(args: argparse.Namespace) -> list[str]:
    """The live-only options given with --replay or --demo, as the user wrote them."""
    clash = [f"--{name.replace('_', '-')}" for name in LIVE_ONLY if getattr(args, name)]
    if args.disk_slow_ms:
        clash.append("--disk-slow-ms")
    if args.exec_failures != "on":
        clash.append("--exec-failures")
    return clash
