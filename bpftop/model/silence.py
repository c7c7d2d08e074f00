"""Things that report every interval (block devices, interfaces) and stop when they go."""

from __future__ import annotations

from typing import Protocol, TypeVar

GONE_AFTER_S = 10.0  # no record for this long: the device or interface is gone


class _Stamped(Protocol):
    @property
    def ts(self) -> float: ...


class _Reporting(Protocol):
    @property
    def last(self) -> _Stamped: ...


T = TypeVar("T", bound=_Reporting)


def forget_silent(entries: dict[str, T], now: float) -> None:
    """Drop the entries whose last record is older than GONE_AFTER_S before `now`."""
    for name in [n for n, e in entries.items() if e.last.ts < now - GONE_AFTER_S]:
        del entries[name]
