"""The incident bundle: a new directory to attach to a ticket, holding

    screen.svg              the screen when the bundle was made
    recording.jsonl.gz      the kept history as a recording (`bpftop --replay` it)
    report.txt              host, kernel, lockdown, attach plans, losses, top offenders

Everything in it is readable by its owner only: it holds command lines and paths.
"""

from __future__ import annotations

import dataclasses
import heapq
import itertools
import os
import pwd
import socket
import time
from collections import deque
from collections.abc import Iterator
from pathlib import Path

from bpftop.core.records import ProbeStatus, Record, is_event
from bpftop.model.history import MAX_AGGREGATES, MAX_EVENTS
from bpftop.outputs.recording import (
    RecordingError,
    RecordingHeader,
    RecordingWriter,
    create_private,
    give_to_sudo_user,
)
from bpftop.outputs.report import build_report


class BundleError(Exception):
    """One line for the user."""


def default_directory(host: str | None = None) -> Path:
    """Where `B` puts a bundle: the home of the user who ran bpftop (through sudo, the
    one who typed it), never whatever directory bpftop happened to start in (a bundle
    once landed in a repository checkout); /var/tmp where there is no home."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return bundle_home() / f"bpftop-bundle-{host or socket.gethostname()}-{stamp}"


def bundle_home() -> Path:
    user = os.environ.get("SUDO_USER") if os.geteuid() == 0 else None
    try:
        home = Path(pwd.getpwnam(user).pw_dir) if user else Path.home()
    except (KeyError, RuntimeError):
        home = None
    return home if home is not None and home.is_dir() else Path("/var/tmp")


def check_directory(directory: Path) -> None:
    """Before anything attaches: the directory must be new, its parent must exist."""
    if directory.exists() or directory.is_symlink():
        raise BundleError(f"{directory} already exists; bpftop writes a bundle to a new directory")
    if not directory.parent.is_dir():
        raise BundleError(f"cannot create {directory}: {directory.parent} is not a directory")


def with_statuses(statuses: dict[str, ProbeStatus], records: list[Record]) -> list[Record]:
    """The records, led by every probe's status as of their start, so a replay of the
    bundle shows how each probe attached even when that happened long before."""
    start = min((r.ts for r in records), default=time.time())
    present = {id(r) for r in records if isinstance(r, ProbeStatus)}
    missing = [s for s in statuses.values() if id(s) not in present]
    return [dataclasses.replace(s, ts=min(s.ts, start)) for s in missing] + records


class BundleRecords:
    """What a headless --bundle keeps: every aggregate record, and the newest
    `max_events` events (the TUI's history has the same budget), in arrival order."""

    def __init__(self, max_events: int = MAX_EVENTS) -> None:
        self._order = itertools.count()
        self._aggregates: deque[tuple[int, Record]] = deque(maxlen=MAX_AGGREGATES)
        self._events: deque[tuple[int, Record]] = deque()
        self._max_events = max_events
        self.events_since: float | None = None  # every event after this is kept

    def add(self, record: Record) -> None:
        if not is_event(record):
            self._aggregates.append((next(self._order), record))
            return
        self._events.append((next(self._order), record))
        if len(self._events) > self._max_events:
            self.events_since = self._events.popleft()[1].ts

    def records(self) -> Iterator[Record]:
        return (record for _order, record in heapq.merge(self._aggregates, self._events))


def write_bundle(
    directory: Path,
    *,
    svg: str,
    about: RecordingHeader,
    records: list[Record],
    events_since: float | None = None,
    lost: dict[str, int] | None = None,
) -> Path:
    """`events_since`: the events before it went over the budget (None: none did).
    `lost`: each probe's lost events since bpftop started, as its pane shows them."""
    check_directory(directory)
    try:
        directory.mkdir(mode=0o700)
        os.chmod(directory, 0o700)  # whatever the umask
        with create_private(directory / "screen.svg") as out:
            out.write(svg.encode())
        writer = RecordingWriter(directory / "recording.jsonl.gz", about)
        writer.write_all(records)
        writer.close()
        report = build_report(about, records, written=time.time(), events_since=events_since,
                              lost=lost)  # fmt: skip
        with create_private(directory / "report.txt") as out:
            out.write(report.encode())
        give_to_sudo_user(directory)  # like the files in it
    except (OSError, RecordingError, ValueError) as exc:
        raise BundleError(f"cannot write the bundle to {directory}: {exc}") from None
    return directory
