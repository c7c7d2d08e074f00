"""Small text formatters shared by the panes."""

from __future__ import annotations

import time


def clock(ts: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(ts))


def rate(per_second: float) -> str:
    if per_second >= 1000:
        return f"{per_second / 1000:.1f}k/s"
    if per_second >= 10:
        return f"{per_second:.0f}/s"
    return f"{per_second:.1f}/s"


def duration(seconds: float) -> str:
    days, rest = divmod(int(seconds), 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    return f"{days}d{hours:02d}h" if days else f"{hours}:{minutes:02d}"


def span(seconds: float) -> str:
    """A stretch of time the way a person says it: 45s, 2m13s, 1h02m."""
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def latency_us(value: float | None) -> str:
    if value is None:
        return "-"
    if value >= 1_000_000:
        return f"{value / 1_000_000:.1f}s"
    if value >= 1000:
        return f"{value / 1000:.1f}ms"
    if 0 < value < 1:  # user functions (uprobes) return in nanoseconds
        return f"{value * 1000:.0f}ns"
    return f"{value:.0f}us"


def endpoint(addr: str, port: int, family: int) -> str:
    return f"[{addr}]:{port}" if family == 6 else f"{addr}:{port}"


def clip(text: str, width: int) -> str:
    """`text` in at most `width` characters; cut at a word's end where one is near, and
    always marked with `…`, so a cut command line never reads as a whole one."""
    if len(text) <= width:
        return text
    head = text[: width - 1]
    space = head.rfind(" ")
    if space >= width * 2 // 3:
        head = head[:space]
    return head.rstrip() + "…"


def compact_count(n: int) -> str:
    """At most 5 characters: 98765, 123k, 1.2M, 12M, 1.2G."""
    if n < 100_000:
        return str(n)
    for unit, scale in (("k", 1e3), ("M", 1e6), ("G", 1e9)):
        value = n / scale
        if value < 999.5 or unit == "G":
            return f"{value:.1f}{unit}" if value < 9.95 else f"{value:.0f}{unit}"
    return str(n)


def size(nbytes: float) -> str:
    """1536 -> "1.5K": binary units, at most 5 characters."""
    value = float(nbytes)
    for unit in ("", "K", "M", "G", "T"):
        if value < 1024 or unit == "T":
            return f"{value:.0f}{unit}" if value >= 100 or not unit else f"{value:.1f}{unit}"
        value /= 1024
    return f"{value:.0f}T"


SPARK = "▁▂▃▄▅▆▇█"


def sparkline(values: tuple[float | None, ...], width: int) -> str:
    """The last `width` values as bars scaled to their max; blanks where None."""
    shown = values[-width:] if width > 0 else ()
    top = max((v for v in shown if v is not None), default=0.0)
    if top <= 0:
        return "".join(" " if v is None else SPARK[0] for v in shown)
    return "".join(
        " " if v is None else SPARK[min(len(SPARK) - 1, int(v / top * (len(SPARK) - 1)))]
        for v in shown
    )
