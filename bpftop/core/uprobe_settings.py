"""What the user picks for the drilldown's uprobes, shared by the UI, the command line
and the uprobe probe: the presets one key away and the budget of what the uprobes may
cost their process."""

from __future__ import annotations

# One key away in the drilldown, when the library is mapped.
PRESETS: dict[str, tuple[str, ...]] = {
    "libc": ("c:malloc", "c:free", "c:read", "c:write", "c:open", "c:connect"),
    "openssl": ("ssl:SSL_read", "ssl:SSL_write"),
}

BUDGET_PCT = 2.0  # of one CPU, all of a target's probes together (--uprobe-budget, b)
BUDGET_STEPS = (1.0, 2.0, 5.0, 10.0, 25.0)  # b in the drilldown goes round these
