"""What bpftop costs every other process's syscalls: a getppid loop in another process,
without anything attached, then with bpftop (default probes, then without the denials
probe, with and without failed-exec capture), and with bpftrace counting the events the
default probes see. Each row pairs its own without/with runs, round after round, so the
ratio cancels the box's drift.

Run alone: sudo .venv/bin/python bench/syscall_tax.py [ROUNDS] [--no-bpftrace] (also part
of make bench; in a kernel VM, where bpftrace takes minutes to start under emulation:
scripts/kernel-vm 6.1 -- .venv/bin/python bench/syscall_tax.py 2 --no-bpftrace).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from denials import SYSCALLS_C, _getppid_rate  # noqa: E402
from paired import print_rows, ratio_row  # noqa: E402
from peers import Headless  # noqa: E402

from tests.helpers.c_helpers import compile_c  # noqa: E402

ROUNDS = 5
BPFTOP = [str(ROOT / ".venv" / "bin" / "bpftop")]
# The events of the default probes, counted in the kernel and never printed (the
# issue's yardstick: exec, denials, TCP state changes, block I/O).
BPFTRACE_SAME_EVENTS = (
    "tracepoint:syscalls:sys_enter_execve { @exec = count(); }"
    " tracepoint:raw_syscalls:sys_exit /args->ret == -13 || args->ret == -1/ { @denied = count(); }"
    " tracepoint:sock:inet_sock_set_state { @tcp = count(); }"
    " tracepoint:block:block_rq_issue { @io = count(); }"
)
NO_DENIALS = ("--probes", "exec,connect,disk,xdp")


class Bpftrace:
    """bpftrace with a script, once it says its probes are attached."""

    def __init__(self, script: str) -> None:
        self.proc = subprocess.Popen(
            ["bpftrace", "-e", script], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        assert self.proc.stdout is not None
        said = []
        for line in self.proc.stdout:  # warnings (RLIMIT_MEMLOCK...), then "Attaching 4 probes..."
            said.append(line.strip())
            if line.startswith("Attaching"):
                break
        else:
            raise RuntimeError(f"bpftrace did not start: {' / '.join(said)}")
        time.sleep(0.5)  # "Attaching" comes just before the attach itself

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.communicate(timeout=30)


def syscall_tax(
    rows: list[tuple[str, str]], workdir: Path, rounds: int = ROUNDS, bpftrace: bool = True
) -> None:
    tool = compile_c(workdir, "syscalls", SYSCALLS_C)
    tools: list[tuple[str, Callable[[], Headless | Bpftrace]]] = [
        ("bpftop --json (default probes)", lambda: Headless(BPFTOP, ROOT)),
        ("bpftrace counting the same events", lambda: Bpftrace(BPFTRACE_SAME_EVENTS)),
        (
            "bpftop --probes exec,connect,disk,xdp",
            lambda: Headless(BPFTOP, ROOT, *NO_DENIALS, want=4),
        ),
        (
            "  the same, --exec-failures off",
            lambda: Headless(BPFTOP, ROOT, *NO_DENIALS, "--exec-failures", "off", want=4),
        ),
    ]
    if not bpftrace:
        tools = [tool for tool in tools if not tool[0].startswith("bpftrace")]
    results: dict[str, tuple[list[float], list[float]]] = {name: ([], []) for name, _ in tools}
    for round_number in range(rounds):
        for name, attach in tools:
            print(f"round {round_number + 1}: {name.strip()}", file=sys.stderr, flush=True)
            without, with_tool = results[name]
            without.append(_getppid_rate(tool))
            running = attach()
            with_tool.append(_getppid_rate(tool))
            running.stop()
    for name, (without, with_tool) in results.items():
        rows.append(
            ratio_row(f"getppid() loop of another process, {rounds} rounds: {name}", without,
                      with_tool, "it")
        )  # fmt: skip


def main() -> int:
    if os.geteuid() != 0:
        print("bench: run as root", file=sys.stderr)
        return 2
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else ROUNDS
    bpftrace = "--no-bpftrace" not in sys.argv  # under emulation it takes minutes to start
    rows: list[tuple[str, str]] = []
    with tempfile.TemporaryDirectory(prefix="bpftop-bench-") as workdir:
        syscall_tax(rows, Path(workdir), rounds, bpftrace)
    print(f"bpftop syscall tax, {time.strftime('%Y-%m-%d')}, kernel {os.uname().release}, "
          f"{os.cpu_count()} CPUs")  # fmt: skip
    print_rows(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
