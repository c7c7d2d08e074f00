"""`bpftop --json` (and `--bundle`): no TUI; one JSON object per line on stdout,
flushed per line, and every record to the `taps` (a recording, a bundle's store)."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Callable, Sequence
from typing import TextIO

from bpftop.catalog import PROBE_CLASSES
from bpftop.core.records import Record, SystemSample
from bpftop.core.stderr_capture import StderrCapture
from bpftop.engine.bpf_engine import BpfEngine
from bpftop.host.kernel import KernelFeatures


def run_headless(
    kernel: KernelFeatures,
    probes: list[str],
    *,
    duration: float | None,
    interval: float,
    out: TextIO | None,
    prepare: Callable[[BpfEngine], None] = lambda _engine: None,
    stderr: StderrCapture | None,
    taps: Sequence[Callable[[Record], None]] = (),
    stopping: threading.Event | None = None,
    progress: Callable[[str], None] | None = None,
) -> int:
    """`stopping` is set when the time is up, before the probes detach. `progress` is
    told what is happening (attaching, seconds left), about once a second."""
    tell = progress or (lambda _what: None)
    done = threading.Event()
    write_lock = threading.Lock()

    def sink(record: Record) -> None:
        for tap in taps:
            tap(record)
        if out is None or isinstance(record, SystemSample):
            return
        line = json.dumps(record.to_json(), separators=(",", ":"))
        with write_lock:
            try:
                out.write(line + "\n")
                out.flush()
            except (BrokenPipeError, ValueError):  # reader went away (e.g. `| head`)
                done.set()

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda *_: done.set())

    engine = BpfEngine(kernel, PROBE_CLASSES, sink, enabled=probes, interval=interval,
                       stderr=stderr, hide_pid=os.getpid())  # fmt: skip
    prepare(engine)  # command-line settings, before anything attaches
    engine.start()
    try:
        # The duration counts from the moment the probes are attached.
        tell("attaching the probes")
        while not engine.ready.wait(0.1):
            if done.is_set():
                break
        end = None if duration is None else time.monotonic() + duration
        while not done.is_set():
            left = None if end is None else end - time.monotonic()
            if left is not None and left <= 0:
                break
            tell("attached" if left is None else f"attached, {left:.0f} s left")
            done.wait(1.0 if left is None else min(1.0, left))
    finally:
        if stopping is not None:
            stopping.set()
        engine.stop()
    return 0
