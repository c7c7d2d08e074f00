"""Recordings: gzip-compressed JSON lines, a header line first, then one record per
line exactly as `--json` prints it.

Why this format: `zcat FILE | jq` reads it with no bpftop at hand, it compresses
~10x (records repeat their keys), and gzip's sync flush once a second keeps all
but the last second readable when bpftop is killed mid-write.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import threading
import time
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from bpftop import __version__
from bpftop.core.record_decode import DecodeError, record_from_json
from bpftop.core.records import Record

MAGIC = "bpftop-recording"
FORMAT = 1
FLUSH_EVERY_S = 1.0
MAX_LINE = 1 << 20  # a longer line is damage, not a record (keeps memory bounded)


class RecordingError(Exception):
    """A file bpftop cannot replay at all; the message is one line for the user."""


@dataclass(frozen=True)
class RecordingHeader:
    """A recording's first line: the box, the interval and each probe's attach plan.
    Bundles and reports read it; a replay adds where it was replayed from."""

    host: str = "?"
    kernel: str = "?"
    lockdown: str = "none"
    interval_s: float = 1.0
    plans: dict[str, list[str]] = field(default_factory=dict)
    started: float = 0.0
    bpftop: str = __version__  # the version that recorded it
    replayed_from: str | None = None  # set while it plays: "the demo" or its path

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": MAGIC, "format": FORMAT, "bpftop": self.bpftop,
                               "host": self.host, "kernel": self.kernel,
                               "lockdown": self.lockdown, "interval_s": self.interval_s,
                               "started": self.started, "plans": self.plans}  # fmt: skip
        if self.replayed_from is not None:
            out["replayed_from"] = self.replayed_from
        return out

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> RecordingHeader:
        """Lenient: a field missing or of the wrong type takes its default."""
        plans = obj.get("plans")
        if not isinstance(plans, dict) or not all(
            isinstance(v, list) and all(isinstance(s, str) for s in v) for v in plans.values()
        ):
            plans = {}
        interval = obj.get("interval_s")
        started = obj.get("started")

        def text(key: str, default: str) -> str:
            value = obj.get(key)
            return value if isinstance(value, str) else default

        return cls(
            host=text("host", "?"), kernel=text("kernel", "?"),
            lockdown=text("lockdown", "none") or "none",
            interval_s=float(interval) if isinstance(interval, int | float) and interval > 0
            else 1.0,
            plans={str(k): list(v) for k, v in plans.items()},
            started=float(started) if isinstance(started, int | float) else 0.0,
            bpftop=text("bpftop", "?"),
            replayed_from=obj["replayed_from"] if isinstance(obj.get("replayed_from"), str)
            else None,
        )  # fmt: skip


def make_header(
    *, host: str, kernel: str, lockdown: str, interval_s: float, plans: dict[str, list[str]]
) -> RecordingHeader:
    return RecordingHeader(host=host, kernel=kernel, lockdown=lockdown, interval_s=interval_s,
                           plans=plans, started=time.time())  # fmt: skip


def create_private(path: Path) -> BinaryIO:
    """A new file only its owner can read: recordings hold command lines and paths.
    Never overwrites (nothing the user had is lost); under sudo it belongs to the user."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except FileExistsError:
        raise RecordingError(f"{path} already exists; bpftop does not overwrite it") from None
    except OSError as exc:
        raise RecordingError(f"cannot create {path}: {exc.strerror}") from None
    os.fchmod(fd, 0o600)  # whatever the umask
    with contextlib.suppress(ValueError, OSError):  # else it stays root's, still 0600
        give_to_sudo_user(fd)
    return os.fdopen(fd, "wb")


def give_to_sudo_user(target: int | Path) -> None:
    """Under sudo, what bpftop writes for the user (a file descriptor or a path) becomes
    the user's. Raises OSError or ValueError (a bad SUDO_UID) when it cannot."""
    if os.geteuid() == 0 and "SUDO_UID" in os.environ:
        os.chown(target, int(os.environ["SUDO_UID"]), int(os.environ.get("SUDO_GID", "-1")))


class RecordingWriter:
    """Thread-safe: records come from the BPF thread and the UI thread."""

    def __init__(self, path: Path, header: RecordingHeader) -> None:
        self.path = path
        self._raw = create_private(path)
        self._gz = gzip.GzipFile(fileobj=self._raw, mode="wb", mtime=0)
        self._lock = threading.Lock()
        self._flushed_at = time.monotonic()
        self.records = 0
        self._line(header.to_json())
        self._gz.flush()

    def write(self, record: Record) -> None:
        with self._lock:
            if self._gz.closed:
                return
            self._line(record.to_json())
            self.records += 1
            if time.monotonic() - self._flushed_at >= FLUSH_EVERY_S:
                self._gz.flush()  # a sync flush: readable up to here if we die
                self._flushed_at = time.monotonic()

    def write_all(self, records: Iterable[Record]) -> None:
        for record in records:
            self.write(record)

    def close(self) -> None:
        with self._lock:
            if not self._gz.closed:
                self._gz.close()
                self._raw.close()

    def _line(self, obj: dict[str, Any]) -> None:
        self._gz.write(json.dumps(obj, separators=(",", ":")).encode() + b"\n")


class RecordingReader:
    """Opens and checks the header at once (a RecordingError: nothing to play);
    iterating yields records up to the end or the first damage, which `damage`
    then describes in one line."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.damage: str | None = None
        self.count = 0
        try:
            self._gz = gzip.open(path, "rb")  # noqa: SIM115 (closed by __iter__)
            first = self._gz.readline(MAX_LINE)
        except IsADirectoryError:
            raise RecordingError(f"{path} is a directory, not a recording") from None
        except OSError as exc:
            if isinstance(exc, gzip.BadGzipFile) or not exc.strerror:
                raise RecordingError(f"{path} is not a bpftop recording (not gzip)") from None
            raise RecordingError(f"cannot read {path}: {exc.strerror}") from None
        except (EOFError, zlib.error):
            raise RecordingError(f"{path} is not a bpftop recording (damaged gzip)") from None
        self.header = _header(path, first)

    def __iter__(self) -> Iterator[Record]:
        line_no = 1
        try:
            while True:
                line = self._gz.readline(MAX_LINE)
                line_no += 1
                if not line:
                    return
                if not line.endswith(b"\n"):
                    what = "too long" if len(line) >= MAX_LINE else "cut short"
                    self._damaged(f"line {line_no} {what}")
                    return
                try:
                    record = record_from_json(json.loads(line))
                except (ValueError, DecodeError, RecursionError) as exc:
                    self._damaged(f"line {line_no}: {_one_line(exc)}")
                    return
                self.count += 1
                yield record
        except (OSError, EOFError, zlib.error) as exc:
            if isinstance(exc, EOFError):
                self._damaged("it ends mid-stream (bpftop was stopped while writing?)")
            else:
                self._damaged(f"line {line_no}: {_one_line(exc)}")
        finally:
            self._gz.close()

    def _damaged(self, what: str) -> None:
        self.damage = f"{self.path} is damaged: {what}; played the {self.count} records before"


def _header(path: Path, line: bytes) -> RecordingHeader:
    try:
        header = json.loads(line)
    except (ValueError, RecursionError):
        header = None
    if not isinstance(header, dict) or header.get("type") != MAGIC:
        raise RecordingError(f"{path} is not a bpftop recording (no bpftop header)")
    version = header.get("format")
    if version != FORMAT:
        raise RecordingError(
            f"{path} is recording format {version!r}; this bpftop {__version__} reads {FORMAT}"
        )
    return RecordingHeader.from_json(header)


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:200] or type(exc).__name__


def read_all(path: Path) -> tuple[RecordingHeader, list[Record], str | None]:
    reader = RecordingReader(path)
    records = list(reader)
    return reader.header, records, reader.damage
