"""Command line: argument checks, the pre-flight that turns a hostile box into one
clear line, and the choice between the TUI and `--json`."""

from __future__ import annotations

import argparse
import functools
import ipaddress
import os
import signal
import socket
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from bpftop import __version__
from bpftop.bundle import BundleError, BundleRecords, check_directory, write_bundle
from bpftop.engine import BpfEngine
from bpftop.filters import SYNTAX, Filter, FilterError, parse_filter
from bpftop.kernel import KernelFeatures, detect
from bpftop.model.history import DEFAULT_MINUTES
from bpftop.probes.registry import PID_PROBE_NAMES, PROBE_NAMES
from bpftop.recording import RecordingError, RecordingHeader, RecordingWriter, make_header
from bpftop.records import Record
from bpftop.resources import demo_recording
from bpftop.stderr_capture import StderrCapture
from bpftop.themes import ThemeError, load_themes, resolve_theme, theme_names
from bpftop.uprobe_settings import BUDGET_PCT
from bpftop.xdp_rules import DropRule, XdpRule, parse_rule

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

if TYPE_CHECKING:
    from bpftop.serve import MetricsServer

EXIT_USAGE = 2
EXIT_ENVIRONMENT = 1
BUNDLE_SECONDS = 30.0  # --bundle without --duration


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


def xdp_target_problem(ifnames: list[str]) -> str | None:
    """Why bpftop's XDP counter cannot go on one of these interfaces, if it cannot."""
    from bpftop.probes.interfaces import LinkReader
    from bpftop.probes.stats import BpfStats

    reader = LinkReader()
    try:
        links = {link.ifname: link for link in reader.links()}
    finally:
        reader.close()
    for name in ifnames:
        link = links.get(name)
        if link is None:
            return f"--xdp-attach: no interface {name!r}"
        if link.xdp_prog_id is not None:
            prog = BpfStats().prog_name(link.xdp_prog_id) or "?"
            return (
                f"--xdp-attach: {name} already has an XDP program (id {link.xdp_prog_id},"
                f" {prog}); bpftop never replaces one"
            )
    return None


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


def pid_probe_problem(args: argparse.Namespace) -> str | None:
    """Fill in the probe list; the syscalls and uprobes probes need one live pid
    and functions the symbol table can place."""
    from bpftop.user_binaries import UserCodeError, check_spec

    # Headless, --uprobe alone means just the uprobes; the TUI's drilldown starts the
    # per-pid probes itself (and detaches them when it closes).
    if args.probes is None:
        args.probes = ["uprobes"] if args.uprobe and args.json else list(PROBE_NAMES)
    if args.uprobe and args.json and "uprobes" not in args.probes:
        args.probes.append("uprobes")
    wanted = [name for name in PID_PROBE_NAMES if name in args.probes]
    if args.uprobe and "uprobes" not in wanted:
        wanted.append("uprobes")
    if wanted and args.user_filter.pid is None:
        return f"{'/'.join(wanted)} need --pid PID"
    for spec in args.uprobe:
        try:
            check_spec(args.user_filter.pid, spec)
        except UserCodeError as exc:
            return f"--uprobe {spec}: {exc}"
    return None


def preflight(kernel: KernelFeatures) -> str | None:
    """One line saying what stops bpftop from running here and how to fix it."""
    if not kernel.can_bpf:
        return "bpftop needs root (CAP_BPF and CAP_PERFMON): run it as `sudo bpftop`"
    if kernel.tracefs is None:
        return "tracefs is not mounted: run `mount -t tracefs nodev /sys/kernel/tracing`"
    if kernel.headers is None:
        return (
            f"no kernel headers at /lib/modules/{kernel.release}/build: install "
            f"linux-headers-{kernel.release} (or run `make setup`, which links the distro's)"
        )
    return None


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
        args.theme = resolve_theme(args.theme) if args.theme else None
    except ThemeError as exc:
        print(f"bpftop: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.replay or args.demo:
        return replay(args)
    try:
        args.user_filter = filter_from_args(args)
    except FilterError as exc:
        print(f"bpftop: {exc}", file=sys.stderr)
        return EXIT_USAGE
    hidden = [tp for tp in os.environ.get("BPFTOP_HIDE_TRACEPOINTS", "").split(",") if tp]
    kernel = detect(hidden_tracepoints=hidden)
    if args.check:
        from bpftop.check import print_check

        if not kernel.can_bpf:
            print(f"bpftop: {preflight(kernel)}", file=sys.stderr)
            return EXIT_USAGE
        return print_check(kernel, sys.stdout, as_json=args.json)
    if problem := preflight(kernel):
        print(f"bpftop: {problem}", file=sys.stderr)
        return EXIT_USAGE if not kernel.can_bpf else EXIT_ENVIRONMENT
    if problem := pid_probe_problem(args):
        print(f"bpftop: {problem}", file=sys.stderr)
        return EXIT_USAGE
    if args.xdp_drop and not args.xdp_attach:
        print("bpftop: --xdp-drop needs --xdp-attach IFNAME", file=sys.stderr)
        return EXIT_USAGE
    if args.xdp_attach:
        if problem := xdp_target_problem(args.xdp_attach):
            print(f"bpftop: {problem}", file=sys.stderr)
            return EXIT_USAGE
        if "xdp" not in args.probes:
            args.probes.append("xdp")
    if args.metrics_labels and not args.serve:
        print("bpftop: --metrics-labels needs --serve", file=sys.stderr)
        return EXIT_USAGE
    if args.bundle and args.serve:
        print("bpftop: --bundle or --serve, not both", file=sys.stderr)
        return EXIT_USAGE
    if args.bundle:
        try:
            check_directory(args.bundle)
        except BundleError as exc:
            print(f"bpftop: --bundle: {exc}", file=sys.stderr)
            return EXIT_USAGE
    elif not (args.json or args.serve) and not (sys.stdout.isatty() and sys.stdin.isatty()):
        print("bpftop: not a terminal; use --json for headless output", file=sys.stderr)
        return EXIT_USAGE
    metrics = None
    if args.serve:
        try:
            metrics = start_metrics(args)
        except OSError as exc:
            host, port = args.serve
            print(f"bpftop: --serve {host}:{port}: {exc.strerror or exc}", file=sys.stderr)
            return EXIT_USAGE

    about = live_about(kernel, args)
    recorder = None
    if args.record:
        try:
            recorder = RecordingWriter(args.record, about)
        except RecordingError as exc:
            print(f"bpftop: --record: {exc}", file=sys.stderr)
            if metrics is not None:
                metrics.close()
            return EXIT_USAGE
    capture = StderrCapture()
    capture.start()
    try:
        if args.json or args.bundle or args.serve:
            return run_headless_session(kernel, args, about, capture, recorder, metrics)
        return run_tui(kernel, args, capture, about, recorder)
    except KeyboardInterrupt:
        return 0
    finally:
        capture.stop()
        if recorder is not None:
            recorder.close()
        if metrics is not None:
            metrics.close()


def start_metrics(args: argparse.Namespace) -> MetricsServer:
    """Bind and serve /metrics before anything attaches: a scrape during start-up
    answers (probes show as attaching), and a taken port stops bpftop at once."""
    from bpftop.model.metrics import MetricTotals
    from bpftop.serve import MetricsServer

    totals = MetricTotals(args.probes, comm_labels=args.metrics_labels == "comm")
    host, port = args.serve
    server = MetricsServer(host, port, totals)
    server.start()
    return server


def live_about(kernel: KernelFeatures, args: argparse.Namespace) -> RecordingHeader:
    """The facts a recording or bundle starts with: the box and each probe's attach plan."""
    from bpftop.probes.registry import PROBE_CLASSES

    plans = {cls.name: [step.via for step in cls.plan] for cls in PROBE_CLASSES
             if cls.name in args.probes}  # fmt: skip
    return make_header(host=socket.gethostname(), kernel=kernel.release,
                       lockdown=kernel.lockdown or "none", interval_s=args.interval,
                       plans=plans)  # fmt: skip


def run_headless_session(
    kernel: KernelFeatures,
    args: argparse.Namespace,
    about: RecordingHeader,
    stderr: StderrCapture,
    recorder: RecordingWriter | None,
    metrics: MetricsServer | None,
) -> int:
    """--json, --bundle, --serve, or several: records to stdout, to a recording, kept
    for the bundle, added up for /metrics."""
    from bpftop.headless import run_headless

    kept = BundleRecords()
    stopping = threading.Event()  # the bundle shows the session, not bpftop detaching after it

    def keep(record: Record) -> None:
        if not stopping.is_set():
            kept.add(record)

    def progress(what: str) -> None:
        """A --bundle says what it is doing on a terminal (one line, rewritten)."""
        sys.stderr.write(f"\rbpftop: --bundle: {what}\x1b[K")
        sys.stderr.flush()

    taps = [t for t in (recorder.write if recorder else None, keep if args.bundle else None,
                        metrics.totals.add if metrics else None)
            if t is not None]  # fmt: skip
    code = run_headless(
        kernel,
        args.probes,
        duration=args.duration or (BUNDLE_SECONDS if args.bundle else None),
        interval=args.interval,
        prepare=functools.partial(prepare_engine, args),
        out=sys.stdout if args.json else None,
        stderr=stderr,
        taps=taps,
        stopping=stopping,
        progress=progress if args.bundle and sys.stderr.isatty() else None,
    )
    if args.bundle:
        from bpftop.playback import screenshot

        if sys.stderr.isatty():
            progress("writing the bundle")
            sys.stderr.write("\n")
        records = list(kept.records())
        try:
            write_bundle(args.bundle, svg=screenshot(records, about, args.theme), about=about,
                         records=records, events_since=kept.events_since)  # fmt: skip
        except BundleError as exc:
            print(f"bpftop: {exc}", file=sys.stderr)
            return EXIT_ENVIRONMENT
        print(f"bpftop: bundle written to {args.bundle}", file=sys.stderr)
    return code


def replay(args: argparse.Namespace) -> int:
    """--replay FILE or --demo: no BPF, so no root; live-only options make no sense."""
    from bpftop.playback import print_records, run_replay_tui

    what = "--demo" if args.demo else "--replay"
    live_only = ["record", "bundle", "serve", "metrics_labels", "probes", "uprobe",
                 "xdp_attach", "xdp_drop", "filter",
                 *(option for option, _term, _meta in FILTER_OPTIONS)]  # fmt: skip
    clash = [f"--{name.replace('_', '-')}" for name in live_only if getattr(args, name)]
    if args.disk_slow_ms:
        clash.append("--disk-slow-ms")
    if args.exec_failures != "on":
        clash.append("--exec-failures")
    if args.demo and args.replay:
        print("bpftop: --demo or --replay FILE, not both", file=sys.stderr)
        return EXIT_USAGE
    if clash:
        print(f"bpftop: not with {what}: {', '.join(clash)} (they act on the live box)",
              file=sys.stderr)  # fmt: skip
        return EXIT_USAGE
    path = args.replay if args.replay else None
    if args.json:
        return print_records(path or demo_recording(), sys.stdout)
    return run_replay_tui(path, refresh=args.interval, exit_after=args.duration, theme=args.theme)


def prepare_engine(args: argparse.Namespace, engine: BpfEngine) -> None:
    """Settings and actions from the command line, given before the engine starts."""
    engine.configure("disk", "slow_ms", args.disk_slow_ms)
    engine.configure("exec", "failures", float(args.exec_failures == "on"))
    engine.set_filter(args.user_filter)
    if args.user_filter.pid is not None:
        for name in PID_PROBE_NAMES:
            engine.configure(name, "pid", args.user_filter.pid)
    engine.configure("uprobes", "budget_pct", args.uprobe_budget)
    for spec in args.uprobe:
        engine.control("uprobes", "attach", spec)
    for ifname in args.xdp_attach:
        engine.control("xdp", "attach", ifname)
        for rule in args.xdp_drop:
            engine.control("xdp", "rule", XdpRule(ifname, rule))


def run_tui(
    kernel: KernelFeatures,
    args: argparse.Namespace,
    stderr: StderrCapture,
    about: RecordingHeader,
    recorder: RecordingWriter | None,
) -> int:
    from bpftop.app import BpftopApp
    from bpftop.probes.registry import PROBE_CLASSES
    from bpftop.sources import LiveSource
    from bpftop.system import SystemSampler

    def start_engine(sink: Callable[[Record], None]) -> BpfEngine:
        engine = BpfEngine(
            kernel, PROBE_CLASSES, sink, enabled=args.probes, interval=args.interval, stderr=stderr
        )
        prepare_engine(args, engine)
        engine.start()
        return engine

    source = LiveSource(start_engine, header=about, sample_system=SystemSampler().sample,
                        recording=recorder is not None)  # fmt: skip
    app = BpftopApp(
        PROBE_NAMES,
        source,
        refresh_seconds=args.interval,
        exit_after=args.duration,
        disk_slow_ms=args.disk_slow_ms,
        exec_failures=args.exec_failures == "on",
        user_filter=args.user_filter,
        drilldown_pid=args.user_filter.pid,
        history_minutes=args.history,
        tap=recorder.write if recorder else None,
        theme=args.theme,
        uprobe_budget=args.uprobe_budget,
    )
    app.leave_on_signals()
    try:
        result = app.run()
    finally:
        source.stop()  # the app did not get to detach (crash); else nothing to do
    return result or 0


if __name__ == "__main__":
    sys.exit(main())
