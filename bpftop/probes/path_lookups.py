"""PATH lookups are not failed execs. execvp("env", ...) tries every directory of PATH
in turn: /usr/local/sbin/env fails (ENOENT), /usr/local/bin/env fails, /usr/bin/env
runs. The failed tries are held back briefly; a success of the same name by the same
pid folds them into its record (`path_tries`); the ones nothing follows are failures.

Only failures shaped like a lookup are held (argv[0] a bare name, the failed path ending
in it, an error a lookup moves past), so a failed exec of a full path shows at once.
The failures ride another ring buffer than the successes on some kernels (the denials
probe's), so a failure may also arrive just after the success it belongs to.
"""

from __future__ import annotations

import dataclasses
import errno
import os
from collections import deque
from collections.abc import Callable

from bpftop.core.records import ExecRecord

HOLD_S = 0.3  # a lookup's tries come microseconds apart; ring buffers drain every 50 ms
LOOKUP_ERRORS = frozenset({-errno.ENOENT, -errno.EACCES, -errno.ENOTDIR})


def _name(record: ExecRecord) -> tuple[int, str]:
    return record.pid, os.path.basename(record.filename)


def looks_like_a_try(record: ExecRecord) -> bool:
    return (
        record.ret in LOOKUP_ERRORS
        and bool(record.argv)
        and "/" not in record.argv[0]
        and os.path.basename(record.filename) == record.argv[0]
    )


class PathLookups:
    """Between the exec probe's decoded records and the sink."""

    def __init__(self, emit: Callable[[ExecRecord], None]) -> None:
        self._emit = emit
        self._held: deque[ExecRecord] = deque()
        self._succeeded: dict[tuple[int, str], float] = {}  # (pid, name) -> when, lately
        self.folded = 0  # failed tries folded into a success, since start

    @property
    def held(self) -> int:
        return len(self._held)

    def add(self, record: ExecRecord) -> None:
        if record.ret < 0:
            if not looks_like_a_try(record):
                self._emit(record)
            elif self._succeeded.get(_name(record), float("-inf")) >= record.ts:
                self.folded += 1  # its success came first, from the other ring buffer
            else:
                self._held.append(record)
            return
        name = _name(record)
        tries = [r for r in self._held if _name(r) == name and r.ts <= record.ts]
        if tries:
            self._held = deque(r for r in self._held if r not in tries)
            self.folded += len(tries)
            record = dataclasses.replace(record, path_tries=len(tries))
        self._succeeded[name] = record.ts
        self._emit(record)

    def flush(self, now: float, *, everything: bool = False) -> None:
        """Failures nothing followed within HOLD_S are failures (all of them at stop)."""
        while self._held and (everything or self._held[0].ts < now - HOLD_S):
            self._emit(self._held.popleft())
        self._succeeded = {k: ts for k, ts in self._succeeded.items() if ts >= now - HOLD_S}
