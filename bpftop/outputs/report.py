"""The incident bundle's plain-text report: the box, how each probe attached, what
was lost, and the top offenders per pane, all counted from the records the bundle's
recording holds (so the report and the recording always agree)."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable
from typing import Any

from bpftop.catalog import REPORT_SECTIONS
from bpftop.core.format import span
from bpftop.core.records import (
    ProbeCounts,
    ProbeStatus,
    Record,
    is_event,
)
from bpftop.outputs.recording import RecordingHeader


def _stamp(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(ts))


def build_report(
    about: RecordingHeader,
    records: list[Record],
    *,
    written: float,
    events_since: float | None = None,
    lost: dict[str, int] | None = None,
) -> str:
    """`events_since`: events before it were over the record budget (None: none were);
    the aggregates cover the whole span. `lost`: the panes' lost counts (since bpftop
    started), shown beside the ones in the span."""
    lines = ["bpftop incident report", ""]
    stamps = [r.ts for r in records]
    first, last = min(stamps, default=written), max(stamps, default=written)
    events = sum(1 for r in records if is_event(r))
    lines += [
        f"written   {_stamp(written)} by bpftop {about.bpftop}",
        f"host      {about.host}",
        f"kernel    {about.kernel}, lockdown {about.lockdown}",
        f"covers    {_stamp(first)} to {_stamp(last)} ({span(last - first)}): counts, CPU, "
        f"disk histograms, denial groups, XDP ({len(records) - events:,} records)",
    ]
    if events_since is None or events_since <= first:
        lines.append(f"events    the same span: execs, connections, denials, slow I/Os "
                     f"({events:,} records)")  # fmt: skip
    else:
        lines.append(f"events    {_stamp(events_since)} to {_stamp(last)} "
                     f"({span(last - events_since)}): execs, connections, denials, slow I/Os "
                     f"({events:,} records; older ones were over the event budget, their "
                     f"counts are in the totals below)")  # fmt: skip
    if about.replayed_from:
        lines.append(f"replayed  from {about.replayed_from}")
    lines += ["", "probes (attach plan: the steps tried, in order)"]
    lines += _probes(about, records)
    lines += ["", "events lost between kernel and bpftop (the kernel's counts stay exact)"]
    lines += _lost(records, lost)
    for title, section in REPORT_SECTIONS:  # the panes' own, in screen order
        lines += ["", f"top offenders: {title}"]
        lines += section(records) or ["  nothing recorded"]
    return "\n".join(lines) + "\n"


def _of(records: Iterable[Record], cls: type) -> list[Any]:
    return [r for r in records if isinstance(r, cls)]


def _probes(about: RecordingHeader, records: list[Record]) -> list[str]:
    statuses = {r.probe: r for r in _of(records, ProbeStatus)}
    plans = about.plans
    out = []
    for name in [*plans, *(n for n in statuses if n not in plans)]:  # pane order
        status = statuses.get(name)
        state = status.state if status else "not in the recording"
        if status and status.via:
            state += f" via {status.via}"
        if status and status.reason:
            state += f" ({status.reason})"
        out.append(f"  {name:<9} {state}")
        if status:
            out += [f"            skipped {step}: {why}" for step, why in status.skipped]
        if plans.get(name):
            out.append(f"            plan: {' -> '.join(plans[name])}")
    return out


def _lost(records: list[Record], since_start: dict[str, int] | None) -> list[str]:
    in_span: Counter[str] = Counter()
    for r in _of(records, ProbeCounts):
        in_span[r.probe] += r.lost
    if since_start is None:
        return [f"  {probe:<9} {n:,}" for probe, n in sorted(in_span.items())] or ["  no counts"]
    probes = sorted(set(in_span) | set(since_start))
    return [f"  {probe:<9} {since_start.get(probe, 0):,} since bpftop started (as in its pane),"
            f" {in_span[probe]:,} in the span above" for probe in probes]  # fmt: skip
