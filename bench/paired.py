"""Table rows: side-by-side comparisons (rounds that each pair a run without the probe with
one with it, back to back, so the ratio per round cancels the box's drift), and printing."""

from __future__ import annotations

import statistics


def ratio_row(
    name: str, without: list[float], with_probe: list[float], with_what: str
) -> tuple[str, str]:
    """One table row: medians, the median ratio, and the range of the per-round ratios."""
    ratios = sorted(w / b for w, b in zip(with_probe, without, strict=True))
    ratio = statistics.median(ratios)
    return (
        name,
        f"without {statistics.median(without):,.0f} · with {with_what}"
        f" {statistics.median(with_probe):,.0f} · ratio {ratio:.3f} ({(1 - ratio) * 100:.1f}%"
        f" slower; rounds {ratios[0]:.3f}-{ratios[-1]:.3f})",
    )


def print_rows(rows: list[tuple[str, str]]) -> None:
    """The table: names in one column as wide as the longest, values after them."""
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"  {name:<{width}}  {value}")
