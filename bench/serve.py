"""`bpftop --serve` under the soak storm: how long a scrape takes (goal: under 50 ms),
how big it is, and the server's RSS and CPU, sampled over SERVE_SECONDS (default 60).
Part of `make bench`; alone: `python bench/serve.py` as root.
"""

from __future__ import annotations

import os
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from paired import print_rows  # noqa: E402
from storm import soak_storm, storm_rates  # noqa: E402

BPFTOP = [sys.executable, "-m", "bpftop"]


def _scrape(port: int) -> tuple[float, int]:
    """(seconds, bytes) of one scrape, timed as Prometheus sees it: request to last byte."""
    started = time.perf_counter()
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as reply:
        body = reply.read()
    return time.perf_counter() - started, len(body)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve_under_storm(rows: list[tuple[str, str]], seconds: float) -> None:
    port = _free_port()
    server = subprocess.Popen([*BPFTOP, "--serve", str(port)], cwd=ROOT,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        proc = psutil.Process(server.pid)
        started = time.monotonic()
        first = None
        while first is None and time.monotonic() - started < 30:
            try:
                first = _scrape(port)
            except OSError:
                time.sleep(0.01)
        answered = time.monotonic() - started
        time.sleep(5)  # every probe attached
        rss_start = proc.memory_info().rss / 2**20
        cpu_start = sum(proc.cpu_times()[:2])
        times, sizes = [], []
        with soak_storm() as counts:
            storm_start = time.monotonic()
            while time.monotonic() - storm_start < seconds:
                took, size = _scrape(port)
                times.append(took * 1000)
                sizes.append(size)
                time.sleep(1.0)
            storm_took = time.monotonic() - storm_start
            cpu = 100 * (sum(proc.cpu_times()[:2]) - cpu_start) / storm_took
            rss_end = proc.memory_info().rss / 2**20
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(15)
    times.sort()
    rows.append(("--serve: first answer", f"{answered:.2f} s after exec (probes attaching)"))
    rows.append((
        f"--serve scrape under the storm ({len(times)} over {storm_took:.0f} s)",
        f"p50 {statistics.median(times):.1f} ms · p99 {times[int(0.99 * (len(times) - 1))]:.1f}"
        f" ms · max {times[-1]:.1f} ms · {statistics.median(sizes) / 1024:.1f} KiB "
        f"({storm_rates(counts, storm_took)})",
    ))  # fmt: skip
    rows.append((
        "--serve RSS and CPU under the storm",
        f"RSS {rss_start:.0f} MiB after start, {rss_end:.0f} MiB at the end; "
        f"CPU {cpu:.1f}% of one core",
    ))  # fmt: skip


def main() -> int:
    if os.geteuid() != 0:
        print("bench: run as root", file=sys.stderr)
        return 2
    rows: list[tuple[str, str]] = []
    serve_under_storm(rows, float(os.environ.get("SERVE_SECONDS", "60")))
    print(f"bpftop --serve benchmark, {time.strftime('%Y-%m-%d')}, {os.uname().nodename}, "
          f"{os.cpu_count()} CPUs")  # fmt: skip
    print_rows(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
