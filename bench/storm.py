"""The soak storm: 200 execs, 100 loopback TCP connections and 1,000 denied opens (as
uid 65534) a second, paced, until the block ends. Shared by bench/soak.py (the TUI for
an hour) and bench/serve.py (scrapes of `bpftop --serve`)."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.helpers.c_helpers import compile_c  # noqa: E402
from tests.helpers.denied import NOBODY, workbench  # noqa: E402

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


@contextlib.contextmanager
def soak_storm() -> Iterator[dict[str, list[int]]]:
    """Yields {"execs": [n], "connects": [n], "denials": [n]}, what was done so far
    (denials in helper runs of DENIALS_PER_SECOND / 10 opens each)."""
    stop = threading.Event()
    counts: dict[str, list[int]] = {"execs": [0], "connects": [0], "denials": [0]}
    server = socket.create_server(("127.0.0.1", 0), backlog=128)
    port = server.getsockname()[1]

    def accept_forever() -> None:
        while not stop.is_set():
            try:
                server.accept()[0].close()
            except OSError:  # the listener closed at the end, or one connection aborted
                if stop.is_set():
                    return

    def connect() -> None:
        # A connection reset or refused once in a 10-minute soak must not end the storm.
        with contextlib.suppress(OSError):
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
        try:
            yield counts
        finally:
            stop.set()
            server.close()
            for worker in workers:
                worker.join(5)


def storm_rates(counts: dict[str, list[int]], seconds: float) -> str:
    return (
        f"{counts['execs'][0] / seconds:,.0f} execs/s, "
        f"{counts['connects'][0] / seconds:,.0f} connects/s, "
        f"{counts['denials'][0] * DENIALS_PER_SECOND / 10 / seconds:,.0f} denials/s"
    )
