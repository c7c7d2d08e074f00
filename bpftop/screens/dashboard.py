"""The dashboard: the header line, the panes in one or two columns, the footer; it
renders snapshots, fits the panes to the terminal and zooms one (frogmouth's `Main`,
posting's `MainScreen`). The app keeps the keys and the record source."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Footer

from bpftop.catalog import COLUMNS
from bpftop.model.dashboard import DashboardSnapshot
from bpftop.panes.base import Pane
from bpftop.panes.header import HeaderLine
from bpftop.screens.layout import COLLAPSED, SteadyWants, columns_for, pane_heights, serving_order
from bpftop.screens.sources import RecordSource

PANE_COUNT = sum(len(column) for column in COLUMNS)


class DashboardScreen(Screen[None]):
    def __init__(self, source: RecordSource) -> None:
        super().__init__(id="_default")  # the first screen: Textual's default screen's id
        self._source = source
        self._steady_wants = SteadyWants()
        self._pane_wants: list[int] | None = None
        self._alarming: set[int] = set()
        self._fitted: dict[str, int] = {}  # the height each pane was last given (0: 1fr)
        self._panes: list[Pane] = []

    def compose(self) -> ComposeResult:
        yield HeaderLine(id="header")
        with Horizontal(id="panes"):
            for column in COLUMNS:  # two from WIDE_COLUMNS on (layout.py), else stacked
                with Vertical(classes="column"):
                    for d in column:
                        yield d.pane(d.name, d.title, d.key)
        yield Footer()

    @property
    def panes(self) -> list[Pane]:
        """In screen order; remembered once all are mounted (asked several times a refresh)."""
        if len(self._panes) != PANE_COUNT:
            self._panes = list(self.query(Pane))
        return self._panes

    def show(self, snap: DashboardSnapshot, banner: list[str]) -> None:
        header = self.query(HeaderLine)
        if not header:  # a last timer tick while the app tears its screens down
            return
        header.first().update_from(snap, banner=banner)
        for pane in self.panes:
            pane.settings = self._source.settings  # the disk pane's threshold, say
            pane.update_from(snap)
        self.fit_panes(snap)

    def fit_panes(self, snap: DashboardSnapshot | None = None) -> None:
        """Give each pane its rows for this terminal (bpftop/screens/layout.py). Heights are set
        only when they change: each change repaints the panes, bytes over the link."""
        panes = self.panes
        if snap is not None:
            self._pane_wants = self._steady_wants.add([p.wanted_lines() for p in panes])
            self._alarming = {i for i, p in enumerate(panes) if p.alarming(snap)}
        if self._pane_wants is None or len(self._pane_wants) != len(panes):
            return  # nothing shown yet (or the panes are not all mounted yet)
        width, height = self.app.size
        columns = columns_for(width, len(panes))
        self.query_one("#panes").set_class(len(columns) > 1, "-wide")
        on = self.focused_pane_index()
        for column in columns:
            wants = [self._pane_wants[i] for i in column]
            order = serving_order(
                len(column),
                column.index(on) if on in column else None,
                {column.index(i) for i in self._alarming if i in column},
            )
            total = height - 2  # less the header and the footer
            for i, lines in zip(column, pane_heights(total, wants, order), strict=True):
                pane = panes[i]
                if pane.has_class("-maximized"):  # zoomed: the whole screen
                    lines = 0
                if self._fitted.get(pane.probe) != lines:
                    pane.styles.height = lines or "1fr"
                    pane.set_class(lines == COLLAPSED, "-collapsed")
                    self._fitted[pane.probe] = lines

    def focused_pane_index(self) -> int | None:
        """The pane with this screen's focus (kept while another screen is on top)."""
        focused = self.focused
        if focused is None:
            return None
        pane = next((n for n in focused.ancestors_with_self if isinstance(n, Pane)), None)
        panes = self.panes
        return panes.index(pane) if pane in panes else None

    def zoom(self) -> None:
        """Maximize the focused pane (the first if none is), or restore."""
        if self.maximized is not None:
            self.minimize()
        else:
            on = self.focused_pane_index()
            self.maximize(self.panes[on or 0], container=False)
        self.fit_panes()

    def on_resize(self) -> None:
        self.fit_panes()

    def on_descendant_focus(self) -> None:
        self.fit_panes()  # the focused pane is served first
