"""Exec pane: what keeps failing to exec (path and errno, with counts), then every
exec with its argv and result."""

from __future__ import annotations

from rich.text import Text

from bpftop.core.format import clock, rate
from bpftop.core.records import EXEC_FAILURES_COSTLY, EXEC_FAILURES_OFF
from bpftop.model.dashboard import DashboardSnapshot
from bpftop.model.execs import ExecSnapshot
from bpftop.model.probe_state import ProbeState
from bpftop.panes.base import Row
from bpftop.panes.grouped import MAX_GROUPS, GroupedPane, GroupRow, count_cells
from bpftop.panes.keys import key_of


class ExecPane(GroupedPane):
    columns = ("TIME", "PID", "PPID", "UID", "COMM", "RESULT", "ARGV")
    # The path last, like ARGV below: the only long cell, cut at the edge.
    group_columns = ("COUNT", "RATE", "ERRNO", "LAST", "PID", "COMM", "FAILED PATH")

    def live_title(self, snapshot: DashboardSnapshot) -> str:
        execs = snapshot.view("exec", ExecSnapshot)
        state = snapshot.probes.get(self.probe)
        failures_off = state is not None and state.code == EXEC_FAILURES_OFF
        failed = (
            f"off ({key_of('exec-failures')})" if failures_off else rate(execs.failed.per_second)
        )
        return f"{rate(execs.execs.per_second)} · failed {failed} · total {execs.execs.total}"

    def subtitle_hint(self, state: ProbeState) -> str:
        if state.attached and state.code == EXEC_FAILURES_COSTLY:
            return f"{key_of('exec-failures')}: failures off"
        return ""

    def alarming(self, snapshot: DashboardSnapshot) -> bool:
        return snapshot.view("exec", ExecSnapshot).failed.per_second > 0

    def group_rows(self, snapshot: DashboardSnapshot) -> list[GroupRow]:
        p = self.palette
        out: list[GroupRow] = []
        for g in snapshot.view("exec", ExecSnapshot).failures[:MAX_GROUPS]:
            path, error = g.key
            last = g.last
            cells = (*count_cells(g.total, g.per_second, p), Text(error, style=p.bad),
                     clock(last.ts), str(last.pid), last.comm[:15], path)  # fmt: skip
            out.append((cells, last.pid))
        return out

    def rows(self, snapshot: DashboardSnapshot, newest: int | None = None) -> list[Row]:
        p = self.palette
        out = []
        for r in snapshot.view("exec", ExecSnapshot).rows[-newest if newest else 0 :]:
            result = Text(r.error, style=p.bad) if r.error else Text("ok", style=p.good)
            argv = " ".join(r.argv) + (" …" if r.argv_truncated else "")
            if r.error and r.argv and r.filename != r.argv[0]:
                argv = f"{r.filename} ← {argv}"  # the path that failed, not just argv[0]
            elif r.path_tries:  # a PATH lookup: where it was found, after how many tries
                argv = f"{r.filename} ← {argv} (PATH try {r.path_tries + 1})"
            out.append(
                Row(
                    cells=(
                        clock(r.ts),
                        str(r.pid),
                        str(r.ppid) if r.ppid else "?",
                        str(r.uid),
                        r.comm[:15],
                        result,
                        argv or r.filename,
                    ),
                    keys=(r.ts, r.pid, r.ppid, r.uid, r.comm, r.ret, argv),
                    pid=r.pid,
                )
            )
        return out
