"""Every key bpftop answers to, in one table (harlequin's action registry): the app's,
the panes' and the drilldown's bindings, the help screen and the keys titles name are
all generated from it, so they cannot disagree. The panes' toggle keys come from their
descriptors (bpftop/catalog.py) and join the table through all_keys().

Order matters: it is the footer's (first come first on a narrow terminal) and the help
screen's.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Literal

from textual.binding import Binding, BindingType
from textual.keys import key_to_character

from bpftop.core.filters import SYNTAX

Scope = Literal["app", "pane", "drilldown"]


@dataclass(frozen=True, slots=True)
class Key:
    id: str
    keys: str  # Textual key names, comma-separated; the first is the one titles name
    action: str
    label: str  # the footer's word
    help: str  # the help screen's line
    scope: Scope = "app"
    footer: bool = False
    probe: str | None = None  # the probe this key toggles: its pane title shows the key
    in_drilldown: bool = False  # an app key that also works on the drilldown screen

    @property
    def first(self) -> str:
        return self.keys.split(",")[0]


def toggle(probe: str, key: str, label: str, help: str, footer: bool = True) -> Key:
    """The key that turns a pane's probe on and off (made from its descriptor)."""
    return Key(f"toggle-{probe}", key, f"toggle_probe('{probe}')", label, help,
               footer=footer, probe=probe, in_drilldown=True)  # fmt: skip


KEYS: tuple[Key, ...] = (
    # First in the footer: on a narrow terminal the footer is cut on the right.
    Key("help", "question_mark,f1", "help", "Help", "this screen", footer=True),
    Key("quit", "q,ctrl+c", "quit", "Quit", "detach everything and quit", footer=True),
    # Here come the panes' toggles (catalog.TOGGLE_KEYS: all_keys() puts them here).
    # Not in the footer (80 columns are full): the pane titles name these keys.
    Key(
        "slow-threshold",
        "t",
        "disk_slow",
        "Slow I/O",
        "disk: only I/O slower than 1 / 10 / 100 ms, or all",
    ),
    Key(
        "exec-failures",
        "F",
        "exec_failures",
        "Exec failures",
        "execs: failed exec capture on/off (the subtitle says its cost)",
    ),
    Key(
        "xdp-attach",
        "a",
        "xdp_attach",
        "XDP count",
        "XDP pane: bpftop's counting XDP program on/off on the selected interface",
    ),
    Key(
        "xdp-drop",
        "d",
        "xdp_drop",
        "XDP drop",
        "XDP pane: add a drop rule there (udp:PORT, tcp:PORT, icmp, src:CIDR)",
    ),
    Key(
        "xdp-clear",
        "D",
        "xdp_clear",
        "XDP clear",
        "XDP pane: remove every drop rule there (the program keeps counting)",
    ),
    Key(
        "filter",
        "slash",
        "filter",
        "Filter",
        f"filter every pane, in the kernel where it can: {SYNTAX}",
        footer=True,
        in_drilldown=True,
    ),
    Key(
        "drilldown",
        "P",
        "pick_process",
        "Drill",
        "drill into a process picked from a list (Enter on a row with a PID too)",
    ),
    Key(
        "pause",
        "p,space",
        "pause",
        "Pause",
        "freeze the display (counting goes on) / back to live; a replay: play/pause",
        footer=True,
        in_drilldown=True,
    ),
    Key(
        "step-back",
        "left_square_bracket",
        "step(-1)",
        "Back",
        "rewind: one refresh back in the history (freezes the display)",
    ),
    Key("step-forward", "right_square_bracket", "step(1)", "Fwd", "rewind: one refresh forward"),
    Key("step-back-10", "left_curly_bracket", "step(-10)", "Back 10", "rewind: ten refreshes back"),
    Key(
        "step-forward-10",
        "right_curly_bracket",
        "step(10)",
        "Fwd 10",
        "rewind: ten refreshes forward",
    ),
    Key(
        "spike",
        "exclamation_mark",
        "spike",
        "Spike",
        "rewind to the worst disk p99 spike in the history; again: the next one",
    ),
    Key(
        "goto",
        "g",
        "goto",
        "Go to",
        "go to a time (HH:MM:SS, -5m): live in the history, a replay seeks",
    ),
    Key(
        "seek-back",
        "less_than_sign",
        "seek(-10)",
        "-10 s",
        "replay: 10 s back (live: ten refreshes back)",
    ),
    Key("seek-forward", "greater_than_sign", "seek(10)", "+10 s", "replay: 10 s forward"),
    Key("faster", "plus", "speed(1)", "Faster", "replay: faster (up to 64x)"),
    Key("slower", "minus", "speed(-1)", "Slower", "replay: slower (down to 0.25x)"),
    Key(
        "bundle",
        "B",
        "bundle",
        "Bundle",
        "incident bundle: screenshot, recording of the history, report, in a new directory",
    ),
    Key("theme", "T", "next_theme", "Theme", "next colour theme"),
    Key("zoom", "z", "zoom", "Zoom", "maximize the focused pane / restore"),
    Key("focus-next", "tab", "focus_next", "Next pane", "focus the next pane"),
    Key("focus-prev", "shift+tab", "focus_previous", "Previous pane", "focus the previous pane"),
    Key(
        "redraw",
        "ctrl+l",
        "redraw",
        "Redraw",
        "redraw the whole screen (it is sent as changes only; use after garbage)",
    ),
    # Every pane's own (the focused one's table).
    Key(
        "sort",
        "s",
        "cycle_sort",
        "Sort",
        "sort by the next column, or click a header",
        scope="pane",
    ),
    Key("reverse", "r", "reverse_sort", "Reverse", "reverse the sort order", scope="pane"),
    # The drilldown screen's own.
    Key(
        "drilldown-close",
        "escape,q",
        "close",
        "Back",
        "drilldown: back to the dashboard (detaches its probes)",
        "drilldown",
        True,
    ),
    Key(
        "drilldown-uprobe",
        "u",
        "pick_function",
        "Uprobe…",
        "drilldown: search the process's functions, attach a uprobe on one",
        "drilldown",
        True,
    ),
    Key(
        "drilldown-libc",
        "m",
        "preset('libc')",
        "libc",
        "drilldown: uprobes on malloc free read write open connect (libc)",
        "drilldown",
        True,
    ),
    Key(
        "drilldown-openssl",
        "l",
        "preset('openssl')",
        "OpenSSL",
        "drilldown: uprobes on SSL_read SSL_write (libssl)",
        "drilldown",
        True,
    ),
    Key(
        "drilldown-usdt",
        "k",
        "preset('usdt')",
        "USDT",
        "drilldown: count the process's USDT probes (semaphores set by the kernel)",
        "drilldown",
        True,
    ),
    Key(
        "drilldown-python",
        "y",
        "preset('python')",
        "Python",
        "drilldown: Python functions by name (CPython's USDT probes), calls each",
        "drilldown",
        True,
    ),
    Key(
        "drilldown-clear",
        "x",
        "detach_all",
        "Clear",
        "drilldown: detach every uprobe",
        "drilldown",
        True,
    ),
    Key(
        "drilldown-budget",
        "b",
        "budget",
        "Budget",
        "drilldown: uprobe budget 1/2/5/10/25% of a CPU (over it, probes detach)",
        "drilldown",
    ),
    Key(
        "drilldown-files",
        "o",
        "next_view",
        "View",
        "drilldown: its events / open files and sockets / latency histogram",
        "drilldown",
        True,
    ),
)


def all_keys(toggles: tuple[Key, ...]) -> tuple[Key, ...]:
    """The whole table: the panes' toggles after help and quit (first in the footer)."""
    return (*KEYS[:2], *toggles, *KEYS[2:])


def bindings(scope: Scope, keys: tuple[Key, ...] = KEYS) -> list[BindingType]:
    """Textual bindings of one scope. The drilldown's also repeat the app keys marked
    in_drilldown, through `app.` and out of its footer (the footer is the drilldown's)."""
    own = [k for k in keys if k.scope == scope]
    out: list[BindingType] = [
        Binding(k.keys, k.action, k.label, show=k.footer, id=k.id) for k in own
    ]
    if scope == "drilldown":
        out += [Binding(k.keys, f"app.{k.action}", k.label, show=False)
                for k in keys if k.in_drilldown and k.scope == "app"]  # fmt: skip
    return out


@cache  # pane titles ask at every refresh
def key_of(id: str) -> str:
    """The key a title names for the key `id`, as typed: "t" for slow-threshold, "[" for
    step-back (Textual's name is left_square_bracket)."""
    first = next(k.first for k in KEYS if k.id == id)
    return key_to_character(first) or first


def help_lines(keys: tuple[Key, ...]) -> list[tuple[str, str]]:
    """(key names, what it does) for every key, in table order."""
    return [(k.keys, k.help) for k in keys]


# After REWIND in the header: the keys that step, and the one back to live.
REWIND_KEYS = f"{key_of('step-back')} {key_of('step-forward')} {key_of('pause')}:live"
