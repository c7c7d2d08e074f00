"""Running totals read from BPF maps, turned into how much each grew since the last read."""

from __future__ import annotations

from typing import Any

Totals = dict[Any, tuple[int, ...]]


def growth(current: Totals, last: Totals) -> Totals:
    """Per key, how much each running total grew; keys that did not grow are left out.
    A key the kernel dropped and re-created (a total went down) counts from zero."""
    out: Totals = {}
    for key, now in current.items():
        before = last.get(key)
        if before is None or any(n < b for n, b in zip(now, before, strict=True)):
            delta = now
        else:
            delta = tuple(n - b for n, b in zip(now, before, strict=True))
        if any(delta):
            out[key] = delta
    return out
