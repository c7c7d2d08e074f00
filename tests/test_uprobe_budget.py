"""Real kernel: a uprobe on a function called in a tight loop costs its process most of
a CPU; bpftop measures that cost and detaches the probe within 2 s, with a status that
names the function and its rate, and the process gets its speed back. A probe on a
function called 100 times a second stays."""

from __future__ import annotations

import re
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from bpftop.core.commands import SetTarget, UprobeAttach, UprobeQueue
from bpftop.core.records import OVER_BUDGET, ProbeStatus, UprobeRecord
from bpftop.core.uprobe_settings import BUDGET_PCT
from tests.helpers.c_helpers import compile_c
from tests.helpers.timing import SLOWDOWN

pytestmark = pytest.mark.bpf

LOOPER_C = r"""
#include <stdio.h>
#include <time.h>

__attribute__((noinline, used)) long bpftop_hot(long i) {
    __asm__ volatile("" ::: "memory");
    return i + 1;
}

__attribute__((noinline, used)) long bpftop_cold(long i) {
    __asm__ volatile("" ::: "memory");
    return i + 2;
}

__attribute__((noinline, used)) long bpftop_never(long i) {
    __asm__ volatile("" ::: "memory");
    return i + 3;
}

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

/* bpftop_hot as fast as it goes, bpftop_cold every 10 ms; every 0.25 s one line with
 * the hot calls per second over that quarter. */
int main(void) {
    long sink = 0, calls = 0;
    double start = now(), cold = start;
    setvbuf(stdout, NULL, _IOLBF, 0);
    for (;;) {
        sink += bpftop_hot(calls++);
        if ((calls & 1023) == 0) {
            double t = now();
            if (t - cold >= 0.01) {
                sink += bpftop_cold(sink);
                cold = t;
            }
            if (t - start >= 0.25) {
                printf("rate %.0f %ld\n", calls / (t - start), sink & 1);
                calls = 0;
                start = t;
            }
        }
    }
}
"""


class Looper:
    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc
        self.rates: list[tuple[float, float]] = []  # (when, hot calls/s)
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            match = re.match(r"rate (\d+)", line)
            if match:
                self.rates.append((time.monotonic(), float(match.group(1))))

    def rate_between(self, start: float, end: float) -> float:
        inside = [r for t, r in self.rates if start <= t <= end]
        assert inside, "the looper printed no rate"
        return sorted(inside)[len(inside) // 2]


@contextmanager
def looper(directory: Path) -> Iterator[Looper]:
    binary = compile_c(directory, "bpftop_looper", LOOPER_C, "-O1")
    proc = subprocess.Popen([str(binary)], stdout=subprocess.PIPE, text=True)
    try:
        yield Looper(proc)
    finally:
        proc.kill()
        proc.wait()


def test_a_hot_probe_is_detached_over_budget_and_a_cold_one_stays(engine_for, tmp_path) -> None:
    with looper(tmp_path) as target:
        time.sleep(1.5)
        before = target.rate_between(0, time.monotonic())

        def prepare(engine) -> None:
            engine.submit(SetTarget(target.proc.pid))
            engine.submit(UprobeAttach("bpftop_looper:bpftop_cold"))
            engine.submit(UprobeAttach("bpftop_looper:bpftop_hot"))

        engine, sink = engine_for("uprobes", interval=0.5, prepare=prepare)
        attached = time.monotonic()

        def over_budget() -> list[ProbeStatus]:
            return [s for s in sink.of_type(ProbeStatus)
                    if s.state == "detached" and s.code == OVER_BUDGET]  # fmt: skip

        assert sink.wait_for(lambda: bool(over_budget()), timeout=2.0)
        detached = time.monotonic()
        assert detached - attached <= 2.0 * SLOWDOWN
        (status,) = over_budget()
        assert "bpftop_hot" in (status.reason or "") and "calls/s" in (status.reason or "")
        time.sleep(1.5)  # the looper runs free again, the cold probe keeps counting
        after = target.rate_between(detached + 0.5, time.monotonic())
        engine.stop()

    hot = [r for r in sink.of_type(UprobeRecord) if r.symbol == "bpftop_hot"]
    cold = [r for r in sink.of_type(UprobeRecord) if r.symbol == "bpftop_cold"]
    # While it was on, the hot probe's measured cost was far over the budget.
    assert max(r.cost_pct or 0 for r in hot) > BUDGET_PCT
    # The cold one stays: it counts after the hot one left (~100 calls/s), cheaply.
    late = [r for r in cold if r.ts > time.time() - 1.5]
    assert late and all(r.calls > 0 and (r.cost_pct or 0) < BUDGET_PCT for r in late)
    assert not [s for s in over_budget() if "bpftop_cold" in (s.reason or "")]
    # The process got its speed back (under the probe each call trapped: ~1/1000 of the
    # speed; the margin is for other load on the box).
    assert after > 0.3 * before, (before, after)


def test_a_preset_attaches_one_function_per_interval_and_stops_at_the_budget(
    engine_for, tmp_path
) -> None:
    queue = tuple(f"bpftop_looper:{name}" for name in ("bpftop_cold", "bpftop_hot", "bpftop_never"))
    with looper(tmp_path) as target:

        def prepare(engine) -> None:
            engine.submit(SetTarget(target.proc.pid))
            engine.submit(UprobeQueue(queue))

        engine, sink = engine_for("uprobes", interval=0.5, prepare=prepare)
        assert sink.wait_for(
            lambda: any(s.code == OVER_BUDGET for s in sink.of_type(ProbeStatus)),
            timeout=4.0,
        )
        time.sleep(1.5)  # three more intervals: a queue that went on would attach the third
        engine.stop()
    symbols = [r.symbol for r in sink.of_type(UprobeRecord)]
    assert symbols.index("bpftop_cold") < symbols.index("bpftop_hot")  # one at a time
    assert "bpftop_never" not in symbols  # the preset stopped where the budget was exceeded
