"""XDP pane: every interface, its XDP program and owner, and XDP actions per second
from each source; drops stand out and carry a sparkline."""

from __future__ import annotations

from typing import Any

from rich.text import Text

from bpftop.core.format import rate, sparkline
from bpftop.model.dashboard import DashboardSnapshot
from bpftop.model.xdp import IfaceView, XdpSnapshot
from bpftop.panes.base import Pane, Row
from bpftop.panes.keys import key_of
from bpftop.panes.palette import Palette

# In order of preference: the driver sees every program's actions; fexit, every
# action of a foreign program; the tracepoints, only exceptions.
SOURCE_SHORT = {"driver": "drv", "bpftop": "own", "fexit": "fx", "tracepoint": "tp"}


def program_text(view: IfaceView) -> Text:
    prog = view.last.prog
    if prog is None:
        return Text("-", style="dim")
    owner = prog.get("owner")
    style = "bold" if owner == "bpftop" else ""
    mode = {"driver": "drv", "generic": "gen", "offload": "hw"}.get(prog.get("mode") or "", "?")
    text = f"{prog.get('name') or '?'} #{prog['id']} {mode} {owner}"
    if view.rules:  # bpftop's own: its drop rules and what each dropped per second
        text += " · " + ", ".join(f"{rule} {rate(n)}" for rule, n in view.rules)
    return Text(text, style=style)


def action_rate(view: IfaceView, action: str, palette: Palette) -> tuple[Text, float | None]:
    """The rate from the best source that counts this action, labelled with it."""
    for source in SOURCE_SHORT:
        value = view.rates.get(source, {}).get(action)
        if value is not None:
            hot = palette.worst if action in ("drop", "aborted") and value > 0 else ""
            return Text(f"{rate(value)} {SOURCE_SHORT[source]}", style=hot), value
    return Text("-", style="dim"), None


class XdpPane(Pane):
    title_hint = f"{key_of('xdp-attach')}/{key_of('xdp-drop')}: count/drop"
    # Most telling first: at 80 columns, drops and whose program makes them.
    columns = (
        *("IFACE", "STATE", "DROP/s", "DROPS", "XDP PROGRAM"),
        *("ABORT/s", "REDIR/s", "RX/s", "TX/s"),
    )
    default_sort = "IFACE"

    def __init__(self, *args: Any, **kwargs: Any) -> None:  # Pane's: from the descriptor
        super().__init__(*args, **kwargs)
        self.sort_reverse = False  # interfaces by name, a to z

    def live_title(self, snapshot: DashboardSnapshot) -> str:
        ifaces = snapshot.view("xdp", XdpSnapshot).ifaces
        progs = sum(1 for i in ifaces if i.last.prog is not None)
        drops = sum(i.drops_per_second for i in ifaces)
        return f"{len(ifaces)} ifaces · {progs} with XDP · drops {rate(drops)}"

    def alarming(self, snapshot: DashboardSnapshot) -> bool:
        return any(i.drops_per_second > 0 for i in snapshot.view("xdp", XdpSnapshot).ifaces)

    def selected_interface(self) -> str | None:
        table = self.table
        if not table.row_count:
            return None
        return str(table.get_row_at(table.cursor_row)[0])

    def rows(self, snapshot: DashboardSnapshot, newest: int | None = None) -> list[Row]:
        palette = self.palette
        out = []
        for view in snapshot.view("xdp", XdpSnapshot).ifaces:
            r = view.last
            drop, drop_value = action_rate(view, "drop", palette)
            aborted, aborted_value = action_rate(view, "aborted", palette)
            redirect, redirect_value = action_rate(view, "redirect", palette)
            # Full width from the start, newest at the right: a growing sparkline would
            # widen its column and shift every column after it each second.
            spark = sparkline(view.drop_history, 12).rjust(12) if view.rates else ""
            out.append(
                Row(
                    cells=(
                        r.ifname,
                        r.state.lower(),
                        drop,
                        Text(spark, style=palette.warn),
                        program_text(view),
                        aborted,
                        redirect,
                        rate(r.rx_pps),
                        rate(r.tx_pps),
                    ),
                    keys=(
                        *(r.ifname, r.state, drop_value, view.drops_per_second),
                        (r.prog or {}).get("id"),
                        *(aborted_value, redirect_value, r.rx_pps, r.tx_pps),
                    ),
                )
            )
        return out
