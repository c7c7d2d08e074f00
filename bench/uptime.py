"""Does bpftop's own cost grow with uptime? The TUI (120x40 pty, every probe) and a
headless `--json` run side by side, under the same soak storm (storm.py: 200 execs,
100 TCP connections and 1,000 denied opens a second) for N minutes; each one's CPU
(user + system, % of one core) and RSS every minute.

Goal (issue 29): the TUI's CPU within 2 points of headless, its last minute no higher
than its second (within 1 point), its RSS flat once the rewind history is full.

    sudo .venv/bin/python bench/uptime.py [MINUTES [HISTORY_MINUTES]]
        (10 minutes by default; the TUI's --history, 10 by default: a shorter one shows
        the RSS levelling off sooner, once the rewind history is full)
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from peers import CountingTerminal  # noqa: E402
from storm import soak_storm, storm_rates  # noqa: E402

BPFTOP = [str(ROOT / ".venv" / "bin" / "bpftop")]
SAMPLE_SECONDS = 60.0


def cpu_seconds(proc: psutil.Process) -> float:
    times = proc.cpu_times()
    return times.user + times.system


def main() -> int:
    minutes = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    history = ["--history", sys.argv[2]] if len(sys.argv) > 2 else []
    tui = CountingTerminal([*BPFTOP, *history], ROOT)
    headless = subprocess.Popen([*BPFTOP, "--json"], stdout=subprocess.DEVNULL, cwd=ROOT)
    time.sleep(8)  # both attached
    procs = {"tui": psutil.Process(tui.pid), "headless": psutil.Process(headless.pid)}
    rows: list[tuple[int, dict[str, float], dict[str, float]]] = []
    with soak_storm() as counts:
        start = time.monotonic()
        last = {name: cpu_seconds(p) for name, p in procs.items()}
        last_at = start
        for minute in range(1, minutes + 1):
            time.sleep(max(0.0, start + minute * SAMPLE_SECONDS - time.monotonic()))
            now = time.monotonic()
            cpu, rss = {}, {}
            for name, proc in procs.items():
                used = cpu_seconds(proc)
                cpu[name] = 100 * (used - last[name]) / (now - last_at)
                rss[name] = proc.memory_info().rss / 2**20
                last[name] = used
            last_at = now
            rows.append((minute, cpu, rss))
            print(f"  minute {minute:2d}: TUI {cpu['tui']:5.1f}% {rss['tui']:6.1f} MiB · "
                  f"headless {cpu['headless']:5.1f}% {rss['headless']:6.1f} MiB",
                  flush=True)  # fmt: skip
        took = time.monotonic() - start
    term_bytes = tui.bytes
    tui.stop()
    headless.terminate()
    headless.wait(10)

    print(f"bpftop uptime cost, {time.strftime('%Y-%m-%d')}, {os.uname().nodename}, "
          f"{minutes} min, 120x40, {' '.join(history) or '--history 10'}")  # fmt: skip
    print(f"  storm: {storm_rates(counts, took)}")
    tui_cpu = [cpu["tui"] for _, cpu, _ in rows]
    gap = [cpu["tui"] - cpu["headless"] for _, cpu, _ in rows]
    print(f"  TUI CPU by minute: {' '.join(f'{c:.1f}' for c in tui_cpu)}")
    print(f"  TUI minus headless: {' '.join(f'{g:+.1f}' for g in gap)} (goal: within 2)")
    if len(rows) >= 2:
        print(f"  last minute minus second: {tui_cpu[-1] - tui_cpu[1]:+.1f} points (goal: +-1)")
    tui_rss = " ".join(f"{rss['tui']:.0f}" for _, _, rss in rows)
    print(f"  TUI RSS by minute: {tui_rss} MiB")
    print(f"  terminal output {term_bytes / took:,.0f} B/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
