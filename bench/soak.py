"""Soak: bpftop's TUI (120x40, every probe) under a steady storm of execs, TCP
connections and denied opens for a long time (`make soak`, 60 minutes by default;
SOAK_MINUTES=N to change). Its RSS is sampled every 30 s: bounded means flat after
warm-up. Not part of the tests or of `make bench`: it takes an hour.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from peers import CountingTerminal  # noqa: E402

from tests.c_helpers import compile_c  # noqa: E402
from tests.denied import NOBODY, workbench  # noqa: E402

SAMPLE_SECONDS = 30
EXECS_PER_SECOND = 200
CONNECTS_PER_SECOND = 100
DENIALS_PER_SECOND = 1000


def paced(rate: int, action: Callable[[], object], stop: threading.Event, done: list[int]) -> None:
    """Run `action` `rate` times a second, in batches of a tenth of a second."""
    batch = max(1, rate // 10)
    next_at = time.monotonic()
    while not stop.is_set():
        for _ in range(batch):
            action()
        done[0] += batch
        next_at += 0.1
        time.sleep(max(0.0, next_at - time.monotonic()))


def main() -> int:
    minutes = float(os.environ.get("SOAK_MINUTES", "60"))
    stop = threading.Event()
    counts = {"execs": [0], "connects": [0], "denials": [0]}
    server = socket.create_server(("127.0.0.1", 0), backlog=128)
    port = server.getsockname()[1]

    def accept_forever() -> None:
        while not stop.is_set():
            try:
                server.accept()[0].close()
            except OSError:
                return

    def connect() -> None:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()

    with workbench() as bench, tempfile.TemporaryDirectory() as tmp:
        noop = compile_c(Path(tmp), "noop", "int main(void) { return 0; }\n")

        # The helper under its own name: the tests count "denyloop" exactly.
        opener = bench.opener.with_name("soakdeny")
        opener.write_bytes(bench.opener.read_bytes())
        opener.chmod(0o755)

        def deny_batch() -> None:  # one helper run: DENIALS_PER_SECOND / 10 denied opens
            subprocess.run(
                [str(opener), str(bench.secret), str(DENIALS_PER_SECOND // 10),
                 str(bench.public), "0"],
                user=NOBODY, group=NOBODY, extra_groups=[], cwd="/", check=True,
            )  # fmt: skip

        tui = CountingTerminal([sys.executable, "-m", "bpftop.cli"], ROOT)
        time.sleep(5)  # attached

        def run_noop() -> None:
            subprocess.run([str(noop)], check=True)

        paced_work = (
            (EXECS_PER_SECOND, run_noop, counts["execs"]),
            (CONNECTS_PER_SECOND, connect, counts["connects"]),
            (10, deny_batch, counts["denials"]),
        )
        workers = [threading.Thread(target=accept_forever, daemon=True)]
        for rate, action, done in paced_work:
            workers.append(
                threading.Thread(target=paced, args=(rate, action, stop, done), daemon=True)
            )
        for worker in workers:
            worker.start()
        proc = psutil.Process(tui.pid)
        samples: list[tuple[float, float, float]] = []  # (minutes, rss MiB, cpu s)
        start = time.monotonic()
        while time.monotonic() - start < minutes * 60:
            time.sleep(SAMPLE_SECONDS)
            cpu = sum(proc.cpu_times()[:2])
            samples.append(((time.monotonic() - start) / 60, proc.memory_info().rss / 2**20, cpu))
            print(f"soak {samples[-1][0]:5.1f} min  rss {samples[-1][1]:6.1f} MiB", flush=True)
        stop.set()
        took = time.monotonic() - start
        term_bytes = tui.bytes
        tui.stop()
        server.close()

    warm = [s for s in samples if s[0] >= min(5.0, minutes / 2)]
    half = [s for s in samples if s[0] >= minutes / 2]
    cpu = 100 * (samples[-1][2] - samples[0][2]) / ((samples[-1][0] - samples[0][0]) * 60 or 1)
    print(f"bpftop soak, {time.strftime('%Y-%m-%d')}, {os.uname().nodename}, {minutes:.0f} min")
    print(f"  storm: {counts['execs'][0] / took:,.0f} execs/s, "
          f"{counts['connects'][0] / took:,.0f} connects/s, "
          f"{counts['denials'][0] * DENIALS_PER_SECOND / 10 / took:,.0f} denials/s")  # fmt: skip
    print(f"  RSS after warm-up {warm[0][1]:.1f} MiB, max {max(s[1] for s in samples):.1f} MiB,"
          f" end {samples[-1][1]:.1f} MiB; second half {min(s[1] for s in half):.1f}-"
          f"{max(s[1] for s in half):.1f} MiB")  # fmt: skip
    print(f"  bpftop CPU {cpu:.1f}% of one core; terminal output {term_bytes / took:,.0f} B/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
