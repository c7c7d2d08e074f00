"""Denials pane: the top (comm, syscall, errno) groups with exact counts and rates,
and below them the recent denials with their target and cause."""

from __future__ import annotations

from rich.text import Text

from bpftop.core.format import clock, rate
from bpftop.core.records import DenialRecord
from bpftop.model.dashboard import DashboardSnapshot
from bpftop.model.denials import DenialGroup, DenialSnapshot
from bpftop.panes.base import Row
from bpftop.panes.grouped import MAX_GROUPS, GroupedPane, GroupRow, count_cells
from bpftop.panes.palette import Palette

TARGET_WIDTH = 32
SILENT_SHOWN = 3  # silent-check rows under the denial groups
# Refusing these two only means the file's mode said no: name that, not the capability.
DAC_OVERRIDES = {"CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH"}


def target(r: DenialRecord | None) -> str:
    """The path or address, cut from the left so the file name stays in view."""
    text = (r.path or r.addr or "") if r else ""
    return text if len(text) <= TARGET_WIDTH else "…" + text[-(TARGET_WIDTH - 1) :]


def cause(r: DenialRecord | None, palette: Palette) -> Text:
    """The refused capability; "file mode" for the DAC overrides; "-" when the syscall
    failed without a refused capability (an LSM, a policy, the syscall's own rules)."""
    if r is None or r.detail is None:
        return Text("-", style="dim")
    caps = set(r.detail.split(","))
    if caps <= DAC_OVERRIDES:
        return Text("file mode", style=palette.warn)
    shown = ",".join(sorted(c.removeprefix("CAP_") for c in caps - DAC_OVERRIDES))
    return Text(shown, style=palette.bad)


class DenialsPane(GroupedPane):
    columns = ("TIME", "PID", "COMM", "UID", "SYSCALL", "ERRNO", "TARGET", "CAUSE")
    group_columns = ("COUNT", "RATE", "COMM", "UID", "SYSCALL", "ERRNO", "LAST TARGET", "CAUSE")

    def alarming(self, snapshot: DashboardSnapshot) -> bool:
        return snapshot.view("denials", DenialSnapshot).denials.per_second > 0

    def live_title(self, snapshot: DashboardSnapshot) -> str:
        d = snapshot.view("denials", DenialSnapshot)
        sampled = f" · sampled {d.sampled_out}" if d.sampled_out else ""
        return f"{rate(d.denials.per_second)}{sampled} · silent caps {d.silent_cap_checks}"

    def group_rows(self, snapshot: DashboardSnapshot) -> list[GroupRow]:
        palette, denials = self.palette, snapshot.view("denials", DenialSnapshot)
        rows: list[GroupRow] = [(self._group_cells(g, palette), g.last.pid if g.last else None)
                                for g in denials.groups[:MAX_GROUPS]]  # fmt: skip
        # After the denials, who makes "silent caps" grow: checks that failed no syscall.
        for s in snapshot.view("denials", DenialSnapshot).silent[:SILENT_SHOWN]:
            # ERRNO "silent" (no syscall failed), the refused capability where a target
            # goes: both in view at 80 columns.
            dim = Text("-", style="dim")
            cells = (*count_cells(s.total, s.per_second, palette), s.comm, str(s.uid), s.syscall,
                     Text("silent", style="dim"), f"{s.cap} refused", dim)  # fmt: skip
            rows.append((cells, None))
        return rows

    @staticmethod
    def _group_cells(g: DenialGroup, palette: Palette) -> tuple[str | Text, ...]:
        return (
            *count_cells(g.total, g.per_second, palette),
            g.comm,
            str(g.uid),
            g.syscall,
            Text(g.errno, style=palette.bad),
            target(g.last),
            cause(g.last, palette),
        )

    def rows(self, snapshot: DashboardSnapshot, newest: int | None = None) -> list[Row]:
        palette = self.palette
        return [
            Row(
                cells=(
                    clock(r.ts),
                    str(r.pid),
                    r.comm,
                    str(r.uid),
                    r.syscall,
                    Text(r.errno, style=palette.bad),
                    target(r),
                    cause(r, palette),
                ),
                keys=(r.ts, r.pid, r.comm, r.uid, r.syscall, r.errno, target(r), r.detail),
                pid=r.pid,
            )
            for r in snapshot.view("denials", DenialSnapshot).rows[-newest if newest else 0 :]
        ]
