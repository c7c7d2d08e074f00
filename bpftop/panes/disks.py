"""Disk pane: per-device IOPS, throughput and latency percentiles; the selected
device's latency histogram with a p99 sparkline; the processes behind the I/O."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import DataTable, Static

from bpftop.core.format import compact_count, latency_us, rate, size, sparkline
from bpftop.core.histogram import by_power_of_two
from bpftop.model.dashboard import DashboardSnapshot
from bpftop.model.disks import DeviceView, DiskSnapshot
from bpftop.panes.base import Pane, Row
from bpftop.panes.keys import key_of
from bpftop.panes.palette import Palette
from bpftop.panes.shown import RowTable, show, shown
from bpftop.panes.textual_seam import free_render_caches

SLOW_THRESHOLDS_MS = (0.0, 1.0, 10.0, 100.0)  # `t` cycles; 0 = off
# The histogram's width in DEFAULT_CSS (32) less its right padding and the line that
# parts it from the process table (without it, `16us-32us ███  2938` ran on into the
# table's `18217  dd` as if one row).
HIST_WIDTH = 30
COUNT_WIDTH = 5  # a bucket's count: compact_count keeps it to this
DEVICE_COLUMNS = (
    *("DEV", "R/s", "W/s", "R B/s", "W B/s"),
    *("P50", "P95", "P99", "MAX", "QUEUE", "DEVICE"),
)


def _lat_cell(us: float | None, palette: Palette) -> Text:
    return Text(latency_us(us), style=palette.latency(us))


def _edge(us: float) -> str:
    """Histogram edges are powers of two: 1024 us reads better as "1ms" than "1.0ms"."""
    if us < 1000:
        return f"{us:.0f}us"
    if us < 1_000_000:
        return f"{round(us / 1000)}ms"
    return f"{us / 1_000_000:.1f}s"


def _bucket_label(low: float, high: float) -> str:
    return f"{_edge(low)}-{_edge(high)}"


class DiskPane(Pane):
    DEFAULT_CSS = """
    DiskPane #disk-devices { height: auto; max-height: 7; }
    DiskPane #disk-lower { height: 1fr; }
    DiskPane #disk-hist { width: 32; height: 1fr; padding: 0 1 0 0; border-right: solid $panel; }
    DiskPane #disk-procs { width: 1fr; height: 1fr; }
    """
    # Most telling first, so 80 columns show who, where, how much and how slow.
    columns = ("PID", "COMM", "DEV", "BYTES", "AVG LAT", "SLOW", "READS", "WRITES")
    default_sort = "BYTES"

    def __init__(self, *args: Any, **kwargs: Any) -> None:  # Pane's: from the descriptor
        super().__init__(*args, **kwargs)
        self.selected_dev: str | None = None
        self._device_rows: list[str] = []  # device names in the table, in order
        self._device_shown: dict[str, tuple[str | Text, ...]] = {}  # each one's cells
        self._device_columns: list[Any] = []

    def compose(self) -> ComposeResult:
        devices = RowTable(id="disk-devices", cursor_type="row")
        self._device_columns = devices.add_columns(*DEVICE_COLUMNS)
        yield devices
        with Horizontal(id="disk-lower"):
            yield Static(id="disk-hist")
            procs = RowTable(id="disk-procs", cursor_type="row")
            procs.add_columns(*self.columns)
            yield procs

    @property
    def table(self) -> RowTable:
        return self.child("#disk-procs", RowTable)

    @property
    def devices_table(self) -> RowTable:
        return self.child("#disk-devices", RowTable)

    def live_title(self, snapshot: DashboardSnapshot) -> str:
        slow = (
            f"slow ≥ {self.settings.disk_slow_ms:g}ms"
            if self.settings.disk_slow_ms
            else f"slow: off ({key_of('slow-threshold')})"
        )
        return f"IO {rate(snapshot.view('disk', DiskSnapshot).ios.per_second)} · {slow}"

    def update_from(self, snapshot: DashboardSnapshot) -> None:
        super().update_from(snapshot)
        devices = snapshot.view("disk", DiskSnapshot).devices
        names = [d.last.dev for d in devices]
        if self.selected_dev not in names:
            self.selected_dev = names[0] if names else None
        self._fill_devices(devices)
        selected = next((d for d in devices if d.last.dev == self.selected_dev), None)
        hist = self._histogram(selected, snapshot)
        show(self.child("#disk-hist", Static), hist, layout=False)  # its size is in its CSS

    def alarming(self, snapshot: DashboardSnapshot) -> bool:
        """A device whose p99 is past 10 ms (the palette's "bad" band)."""
        return any(
            d.last.lat_us is not None and d.last.lat_us.p99 >= 10_000
            for d in snapshot.view("disk", DiskSnapshot).devices
        )

    def wanted_lines(self) -> int:
        """The device table, then the histogram beside the process table."""
        devices = self.devices_table.row_count
        if not devices:
            return 0
        hist = str(shown(self.child("#disk-hist", Static)) or "")
        return 1 + min(devices, 6) + max(1 + self.rows_available, hist.count("\n") + 1)

    def rows(self, snapshot: DashboardSnapshot, newest: int | None = None) -> list[Row]:
        palette = self.palette
        out = []
        for p in snapshot.view("disk", DiskSnapshot).procs:
            if self.settings.disk_slow_ms and not p.slow:
                continue  # the threshold filter: only processes with slow I/O
            total = p.read_bytes + p.write_bytes
            out.append(
                Row(
                    cells=(
                        str(p.pid) if p.pid is not None else "-",
                        (p.comm or "unknown")[:12],
                        p.dev,
                        size(total),
                        _lat_cell(p.avg_lat_us, palette),
                        Text(str(p.slow), style=palette.bad) if p.slow else "",
                        str(p.reads),
                        str(p.writes),
                    ),
                    keys=(p.pid, p.comm, p.dev, total, p.avg_lat_us, p.slow, p.reads, p.writes),
                    pid=p.pid,
                )
            )
        return out

    def _fill_devices(self, devices: tuple[DeviceView, ...]) -> None:
        """Update cells in place while the device list is the same: the cursor (the
        user's pick) stays put and only changed cells are redrawn over the link."""
        table = self.devices_table
        names = [d.last.dev for d in devices]
        if names != self._device_rows:
            table.clear()
            self._device_shown = {d.last.dev: self._device_cells(d) for d in devices}
            for dev, cells in self._device_shown.items():
                table.add_row(*cells, key=dev)
            self._device_rows = names
            if self.selected_dev in names:
                table.move_cursor(row=names.index(self.selected_dev), animate=False)
            return
        freed = False
        for d in devices:
            dev, cells = d.last.dev, self._device_cells(d)
            before = self._device_shown.get(dev, (None,) * len(cells))
            for column, cell, old in zip(self._device_columns, cells, before, strict=True):
                if _styled(cell) == _styled(old):
                    continue
                if not freed:  # the entries of the render caches are never read again:
                    free_render_caches(table)  # update_cell renders it all under a new key
                    freed = True
                table.update_cell(dev, column, cell, update_width=True)
            self._device_shown[dev] = cells

    def _device_cells(self, d: DeviceView) -> tuple[str | Text, ...]:
        r, p = d.last, self.palette
        secs = r.interval_s or 1.0
        lat = r.lat_us
        return (
            r.dev,
            f"{r.reads / secs:.0f}",
            f"{r.writes / secs:.0f}",
            size(r.read_bytes / secs),
            size(r.write_bytes / secs),
            _lat_cell(lat.p50 if lat else None, p),
            _lat_cell(lat.p95 if lat else None, p),
            _lat_cell(lat.p99 if lat else None, p),
            _lat_cell(lat.max if lat else None, p),
            latency_us(r.queue_us),
            latency_us(r.device_us),
        )

    def _histogram(self, device: DeviceView | None, snapshot: DashboardSnapshot) -> Text:
        if device is None:
            return Text("no block I/O seen yet", style="dim")
        width = HIST_WIDTH  # fixed, not measured: the same frame whenever it is drawn
        text = Text()
        title = f"{device.last.dev} {snapshot.view('disk', DiskSnapshot).window_s:.0f}s"
        text.append(title, style="bold")
        spark = sparkline(device.p99_history, width - len(title) - len("  p99 "))
        text.append(f"  p99 {spark}\n")
        rows = by_power_of_two(device.window_hist)
        palette = self.palette
        if not rows:
            text.append("idle", style="dim")
            return text
        top = max(count for _, _, count in rows)
        label_width = max(len(_bucket_label(low, high)) for low, high, _ in rows)
        bar_width = max(width - label_width - COUNT_WIDTH - 3, 4)
        for low, high, count in rows:
            bar = "█" * max(1, round(count / top * bar_width))
            text.append(f"{_bucket_label(low, high):>{label_width}} ")
            text.append(f"{bar:<{bar_width}}", style=palette.latency(low))
            text.append(f" {compact_count(count):>{COUNT_WIDTH}}\n")
        text.rstrip()
        return text

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        super().on_data_table_row_highlighted(event)
        key = event.row_key.value
        if event.data_table.id == "disk-devices" and key is not None and key != self.selected_dev:
            self.selected_dev = str(key)
            self._rerender()


def next_slow_threshold(slow_ms: float) -> float:
    """The threshold after `slow_ms` in SLOW_THRESHOLDS_MS's round (the t key)."""
    index = SLOW_THRESHOLDS_MS.index(slow_ms) if slow_ms in SLOW_THRESHOLDS_MS else 0
    return SLOW_THRESHOLDS_MS[(index + 1) % len(SLOW_THRESHOLDS_MS)]


def _styled(cell: str | Text | None) -> object:
    """A cell as compared for a redraw: a Text's style too (Text's == leaves it out)."""
    return (cell.plain, str(cell.style), cell.spans) if isinstance(cell, Text) else cell
