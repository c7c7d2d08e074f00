"""Command line: the arguments, checked into frozen Options (options.py), the
pre-flight that turns a hostile box into one clear line (preflight.py), then the
session (session.py): the TUI, `--json`, `--bundle` or `--serve`; or a replay."""

from __future__ import annotations

import argparse
import ipaddress
import os
import signal
import sys
from pathlib import Path

from bpftop import __version__
from bpftop.catalog import PID_PROBE_NAMES, PROBE_NAMES
from bpftop.cli.options import (
    FILTER_OPTIONS,
    Options,
    filter_from_args,
    options_from,
    replay_clashes,
)
from bpftop.cli.preflight import pid_probe_problem, preflight, usage_problem, xdp_target_problem
from bpftop.cli.session import live_header, run_headless_session, run_tui, start_metrics
from bpftop.core.filters import SYNTAX, FilterError
from bpftop.core.resources import demo_recording
from bpftop.core.stderr_capture import StderrCapture
from bpftop.core.uprobe_settings import BUDGET_PCT
from bpftop.core.xdp_rules import DropRule, parse_rule
from bpftop.host.kernel import KernelFeatures, detect
from bpftop.model.history import DEFAULT_MINUTES
from bpftop.outputs.bundle import BundleError, check_directory
from bpftop.outputs.recording import RecordingError, RecordingWriter
from bpftop.screens.themes import ThemeError, load_themes, resolve_theme, theme_names

EXIT_USAGE = 2
EXIT_ENVIRONMENT = 1


def _env_list(name: str) -> list[str]:
    """A comma-separated environment variable: what tests hide to run an older kernel's
    steps here (tracepoints, BPF helpers by kernel.HELPERS name)."""
    return [item for item in os.environ.get(name, "").split(",") if item]


def parse_probes(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    known = PROBE_NAMES + PID_PROBE_NAMES
    unknown = [name for name in names if name not in known]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown probe {', '.join(unknown) or '(none)'}; choose from {','.join(known)}"
        )
    return names


def _number(text: str, unit: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of {unit}: {text!r}") from None


def positive_seconds(text: str) -> float:
    value = _number(text, "seconds")
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be more than 0 seconds: {text!r}")
    return value


def budget_percent(text: str) -> float:
    value = _number(text, "percent of one CPU")
    if not 0 < value <= 100:
        raise argparse.ArgumentTypeError(
            f"must be more than 0 and at most 100 (% of one CPU): {text!r}"
        )
    return value


def minutes(text: str) -> float:
    value = _number(text, "minutes")
    if not 0 < value <= 24 * 60:
        raise argparse.ArgumentTypeError(f"must be more than 0 and at most 1440 minutes: {text!r}")
    return value


DEFAULT_ADDRESS = "127.0.0.1"  # only a port given: not on the network unless asked


def listen_address(text: str) -> tuple[str, int]:
    """`9469`, `127.0.0.1:9469`, `0.0.0.0:9469`, `[::1]:9469` -> (host, port)."""
    host, sep, port_text = text.rpartition(":")
    if not sep:
        host = DEFAULT_ADDRESS
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    try:
        port = int(port_text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not ADDR:PORT or PORT: {text!r}") from None
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port must be 1-65535: {text!r}")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not an IP address: {host!r} (give a numeric address, e.g. 127.0.0.1:{port})"
        ) from None
    return host, port


def short_theme_names() -> list[str]:
    return [name.removeprefix("bpftop-") for name in theme_names()]


def milliseconds(text: str) -> float:
    value = _number(text, "milliseconds")
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more milliseconds: {text!r}")
    return value


def drop_rule(text: str) -> DropRule:
    try:
        return parse_rule(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bpftop", description="A top-style eBPF dashboard: execs, TCP connections, ..."
    )
    parser.add_argument("--json", action="store_true", help="no TUI: JSON lines on stdout")
    parser.add_argument(
        "--check",
        action="store_true",
        help="print what this kernel offers and the attach step each probe would take, "
        "attaching nothing; exit 1 if a probe has none (with --json: one JSON object)",
    )
    parser.add_argument(
        "--serve",
        type=listen_address,
        metavar="[ADDR:]PORT",
        help="no TUI: serve Prometheus metrics at http://ADDR:PORT/metrics "
        f"(ADDR defaults to {DEFAULT_ADDRESS}; 0.0.0.0 or [::] for every interface)",
    )
    parser.add_argument(
        "--metrics-labels",
        choices=["comm"],
        help="with --serve: also label denials by comm (the first 50 comms, then 'other')",
    )
    parser.add_argument(
        "--probes",
        type=parse_probes,
        metavar="LIST",
        help=f"comma-separated probes to attach (default: {','.join(PROBE_NAMES)}; "
        f"with --pid also {','.join(PID_PROBE_NAMES)})",
    )
    parser.add_argument(
        "--uprobe",
        action="append",
        default=[],
        metavar="LIB_OR_PATH:SYMBOL",
        help="count calls and latency of a function in the --pid process, e.g. c:malloc, "
        "libssl.so.3:SSL_read, /usr/sbin/nginx:ngx_http_handler, or calls of a USDT probe: "
        "usdt:LIB_OR_PATH:PROVIDER:NAME (repeatable; alone it attaches only the uprobes)",
    )
    parser.add_argument(
        "--uprobe-budget",
        type=budget_percent,
        default=BUDGET_PCT,
        metavar="PCT",
        help=f"what the uprobes may cost their process together, %% of one CPU (default "
        f"{BUDGET_PCT:g}); over it the costliest are detached",
    )
    parser.add_argument(
        "--duration", type=positive_seconds, metavar="SECONDS", help="exit after this long"
    )
    parser.add_argument(
        "--interval",
        type=positive_seconds,
        default=1.0,
        metavar="SECONDS",
        help="refresh and counter interval (default: 1)",
    )
    parser.add_argument(
        "--disk-slow-ms",
        type=milliseconds,
        default=0.0,
        metavar="MS",
        help="report each disk I/O at least this slow (disk_slow records; 0: off)",
    )
    parser.add_argument(
        "--exec-failures",
        choices=["on", "off"],
        default="on",
        help="capture failed execs (default: on). Where the kernel offers no fexit or "
        "kprobe on the exec syscall, they come from a syscall hook that every syscall of "
        "the box pays for (the denials probe's, while it runs); off leaves only the free "
        "exec tracepoint (the F key in the TUI)",
    )
    parser.add_argument(
        "--xdp-attach",
        action="append",
        default=[],
        metavar="IFNAME",
        help="attach bpftop's counting XDP program to an interface without one (repeatable)",
    )
    parser.add_argument(
        "--xdp-drop",
        action="append",
        default=[],
        type=drop_rule,
        metavar="RULE",
        help="drop what RULE matches on the --xdp-attach interfaces: udp:PORT, tcp:PORT, "
        "udp, tcp, icmp, src:CIDR, or several joined with ',' (repeatable)",
    )
    filters = parser.add_argument_group(
        "filters", "all given must hold; the TUI's / bar takes the same terms"
    )
    extra = {"pid": "; the TUI opens its drilldown; the target of syscalls and --uprobe"}
    for option, term, meta in FILTER_OPTIONS:
        filters.add_argument(
            f"--{option}",
            metavar=meta,
            help=f"same as the filter term {term}{extra.get(option, '')}",
        )
    filters.add_argument("--filter", metavar="EXPR", help=f"a whole filter: {SYNTAX}")
    time_group = parser.add_argument_group("recordings, rewind, bundles, looks")
    time_group.add_argument(
        "--record",
        type=Path,
        metavar="FILE",
        help="also write every record to FILE (gzip JSON lines, mode 0600, never overwritten)",
    )
    time_group.add_argument(
        "--replay",
        type=Path,
        metavar="FILE",
        help="play a recording in the TUI (no root needed); with --json print its records",
    )
    time_group.add_argument(
        "--demo", action="store_true", help="replay the recording shipped with bpftop"
    )
    time_group.add_argument(
        "--bundle",
        type=Path,
        metavar="DIR",
        help="headless: attach for --duration (default 30 s), then write an incident bundle "
        "(screenshot, recording, report) to the new directory DIR",
    )
    time_group.add_argument(
        "--history",
        type=minutes,
        default=DEFAULT_MINUTES,
        metavar="MINUTES",
        help=f"how far back the rewind keys reach (default: {DEFAULT_MINUTES:g})",
    )
    time_group.add_argument(
        "--theme", metavar="NAME", help=f"colour theme: {', '.join(short_theme_names())}"
    )
    parser.add_argument("--version", action="version", version=f"bpftop {__version__}")
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        return _main(argv)
    except KeyboardInterrupt:  # Ctrl-C before the TUI took the terminal
        return 128 + signal.SIGINT
    except Exception as exc:  # a last line of defence: one line, not a traceback
        if os.environ.get("BPFTOP_DEBUG"):
            raise
        print(f"bpftop: internal error: {type(exc).__name__}: {exc}", file=sys.stderr)
        print("bpftop: rerun with BPFTOP_DEBUG=1 for the traceback", file=sys.stderr)
        return EXIT_ENVIRONMENT


def _main(argv: list[str] | None) -> int:
    args = build_parser().parse_args(argv)
    try:
        load_themes()  # a broken theme file is one line here, not a crash in the TUI
        theme = resolve_theme(args.theme) if args.theme else None
    except ThemeError as exc:
        return fail(str(exc), EXIT_USAGE)
    if args.replay or args.demo:
        return replay(args, theme)
    try:
        options = options_from(args, theme, filter_from_args(args))
    except FilterError as exc:
        return fail(str(exc), EXIT_USAGE)
    kernel = detect(
        hidden_tracepoints=_env_list("BPFTOP_HIDE_TRACEPOINTS"),
        hidden_helpers=_env_list("BPFTOP_HIDE_HELPERS"),
    )
    if options.check:
        from bpftop.cli.check import print_check

        if not kernel.can_bpf:
            return fail(str(preflight(kernel)), EXIT_USAGE)
        return print_check(kernel, sys.stdout, as_json=options.json)
    if problem := preflight(kernel):
        return fail(problem, EXIT_USAGE if not kernel.can_bpf else EXIT_ENVIRONMENT)
    if problem := pid_probe_problem(options) or usage_problem(options):
        return fail(problem, EXIT_USAGE)
    if options.xdp_attach and (problem := xdp_target_problem(options.xdp_attach)):
        return fail(problem, EXIT_USAGE)
    if options.bundle:
        try:
            check_directory(options.bundle)
        except BundleError as exc:
            return fail(f"--bundle: {exc}", EXIT_USAGE)
    elif not options.headless and not (sys.stdout.isatty() and sys.stdin.isatty()):
        return fail("not a terminal; use --json for headless output", EXIT_USAGE)
    return run_live(kernel, options)


def run_live(kernel: KernelFeatures, options: Options) -> int:
    """Open what the session writes to (/metrics, --record), run it, close them."""
    metrics = None
    if options.serve:
        try:
            metrics = start_metrics(options)
        except OSError as exc:
            host, port = options.serve
            return fail(f"--serve {host}:{port}: {exc.strerror or exc}", EXIT_USAGE)
    header = live_header(kernel, options)
    recorder = None
    if options.record:
        try:
            recorder = RecordingWriter(options.record, header)
        except RecordingError as exc:
            if metrics is not None:
                metrics.close()
            return fail(f"--record: {exc}", EXIT_USAGE)
    capture = StderrCapture()
    capture.start()
    try:
        if options.headless:
            return run_headless_session(kernel, options, header, capture, recorder, metrics)
        return run_tui(kernel, options, capture, header, recorder)
    except KeyboardInterrupt:
        return 0
    finally:
        capture.stop()
        if recorder is not None:
            recorder.close()
        if metrics is not None:
            metrics.close()


def fail(problem: str, code: int) -> int:
    """The one line a bad input gets, and the exit code."""
    print(f"bpftop: {problem}", file=sys.stderr)
    return code


def replay(args: argparse.Namespace, theme: str | None) -> int:
    """--replay FILE or --demo: no BPF, so no root; live-only options make no sense."""
    from bpftop.screens.playback import print_records, run_replay_tui

    what = "--demo" if args.demo else "--replay"
    if args.demo and args.replay:
        return fail("--demo or --replay FILE, not both", EXIT_USAGE)
    if clash := replay_clashes(args):
        return fail(f"not with {what}: {', '.join(clash)} (they act on the live box)", EXIT_USAGE)
    path = args.replay if args.replay else None
    if args.json:
        return print_records(path or demo_recording(), sys.stdout)
    return run_replay_tui(path, refresh=args.interval, exit_after=args.duration, theme=theme)


if __name__ == "__main__":
    sys.exit(main())
