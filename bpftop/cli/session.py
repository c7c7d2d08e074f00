"""A session's wiring, once the options are checked: the engine with the command
line's settings, then the TUI, or headless output (--json, --bundle, --serve)."""

from __future__ import annotations

import functools
import os
import socket
import sys
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from bpftop.catalog import PROBE_CLASSES, PROBE_NAMES
from bpftop.cli.options import Options
from bpftop.core.commands import Command, Settings, UprobeAttach, XdpAddRule, XdpAttach
from bpftop.core.records import Record
from bpftop.core.stderr_capture import StderrCapture
from bpftop.core.xdp_rules import XdpRule
from bpftop.engine.bpf_engine import BpfEngine
from bpftop.host.kernel import KernelFeatures
from bpftop.outputs.bundle import BundleError, BundleRecords, write_bundle
from bpftop.outputs.recording import RecordingHeader, RecordingWriter, make_header

if TYPE_CHECKING:
    from bpftop.outputs.serve import MetricsServer

EXIT_ENVIRONMENT = 1
BUNDLE_SECONDS = 30.0  # --bundle without --duration


def start_metrics(options: Options) -> MetricsServer:
    """Bind and serve /metrics before anything attaches: a scrape during start-up
    answers (probes show as attaching), and a taken port stops bpftop at once."""
    from bpftop.model.metrics import MetricTotals
    from bpftop.outputs.serve import MetricsServer

    assert options.serve is not None
    totals = MetricTotals(options.probes, comm_labels=options.metrics_labels == "comm")
    host, port = options.serve
    server = MetricsServer(host, port, totals)
    server.start()
    return server


def live_header(kernel: KernelFeatures, options: Options) -> RecordingHeader:
    """The facts a recording or bundle starts with: the box and each probe's attach plan."""
    plans = {cls.name: [step.via for step in cls.plan] for cls in PROBE_CLASSES
             if cls.name in options.probes}  # fmt: skip
    return make_header(host=socket.gethostname(), kernel=kernel.release,
                       lockdown=kernel.lockdown or "none", interval_s=options.interval,
                       plans=plans)  # fmt: skip


def run_headless_session(
    kernel: KernelFeatures,
    options: Options,
    about: RecordingHeader,
    stderr: StderrCapture,
    recorder: RecordingWriter | None,
    metrics: MetricsServer | None,
) -> int:
    """--json, --bundle, --serve, or several: records to stdout, to a recording, kept
    for the bundle, added up for /metrics."""
    from bpftop.outputs.headless import run_headless

    kept = BundleRecords()
    stopping = threading.Event()  # the bundle shows the session, not bpftop detaching after it

    def keep(record: Record) -> None:
        if not stopping.is_set():
            kept.add(record)

    def progress(what: str) -> None:
        """A --bundle says what it is doing on a terminal (one line, rewritten)."""
        sys.stderr.write(f"\rbpftop: --bundle: {what}\x1b[K")
        sys.stderr.flush()

    taps = [t for t in (recorder.write if recorder else None, keep if options.bundle else None,
                        metrics.totals.add if metrics else None)
            if t is not None]  # fmt: skip
    code = run_headless(
        kernel,
        list(options.probes),
        duration=options.duration or (BUNDLE_SECONDS if options.bundle else None),
        interval=options.interval,
        prepare=functools.partial(prepare_engine, options, settings_of(options)),
        out=sys.stdout if options.json else None,
        stderr=stderr,
        taps=taps,
        stopping=stopping,
        progress=progress if options.bundle and sys.stderr.isatty() else None,
    )
    if options.bundle:
        from bpftop.screens.playback import screenshot

        if sys.stderr.isatty():
            progress("writing the bundle")
            sys.stderr.write("\n")
        records = list(kept.records())
        try:
            write_bundle(options.bundle, svg=screenshot(records, about, options.theme), about=about,
                         records=records, events_since=kept.events_since)  # fmt: skip
        except BundleError as exc:
            print(f"bpftop: {exc}", file=sys.stderr)
            return EXIT_ENVIRONMENT
        print(f"bpftop: bundle written to {options.bundle}", file=sys.stderr)
    return code


def settings_of(options: Options) -> Settings:
    """The user's settings as the command line gives them."""
    return Settings(filter=options.user_filter, disk_slow_ms=options.disk_slow_ms,
                    exec_failures=options.exec_failures, uprobe_budget=options.uprobe_budget,
                    target_pid=options.user_filter.pid)  # fmt: skip


def command_line_actions(options: Options) -> list[Command]:
    """What the command line asks of the probes once, at start: uprobes, XDP programs."""
    out: list[Command] = [UprobeAttach(spec) for spec in options.uprobes]
    for ifname in options.xdp_attach:
        out.append(XdpAttach(ifname))
        out += [XdpAddRule(XdpRule(ifname, rule)) for rule in options.xdp_drop]
    return out


def prepare_engine(options: Options, settings: Settings, engine: BpfEngine) -> None:
    """Settings and actions from the command line, given before the engine starts."""
    for command in [*settings.commands(), *command_line_actions(options)]:
        engine.submit(command)


def run_tui(
    kernel: KernelFeatures,
    options: Options,
    stderr: StderrCapture,
    about: RecordingHeader,
    recorder: RecordingWriter | None,
) -> int:
    from bpftop.host.system import SystemSampler
    from bpftop.screens.app import BpftopApp
    from bpftop.screens.sources import LiveSource

    def start_engine(sink: Callable[[Record], None], settings: Settings) -> BpfEngine:
        engine = BpfEngine(
            kernel,
            PROBE_CLASSES,
            sink,
            enabled=list(options.probes),
            interval=options.interval,
            stderr=stderr,
            hide_pid=os.getpid(),
        )
        prepare_engine(options, settings, engine)
        engine.start()
        return engine

    source = LiveSource(start_engine, settings=settings_of(options), header=about,
                        sample_system=SystemSampler().sample,
                        recording=recorder is not None)  # fmt: skip
    app = BpftopApp(
        PROBE_NAMES,
        source,
        refresh_seconds=options.interval,
        exit_after=options.duration,
        drilldown_pid=options.user_filter.pid,
        history_minutes=options.history_minutes,
        tap=recorder.write if recorder else None,
        theme=options.theme,
    )
    app.leave_on_signals()
    try:
        result = app.run()
    finally:
        source.stop()  # the app did not get to detach (crash); else nothing to do
    return result or 0
