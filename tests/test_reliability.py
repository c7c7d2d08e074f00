"""Kill bpftop at a random moment with each signal, and check that nothing of it stays:
no BPF program or link, no XDP program on an interface, no uprobe (perf event or
uprobe_events line), and the terminal back to normal where bpftop could restore it.

The TUI runs as the session leader of a fresh pty, as over SSH; SIGHUP is the pty
closing. Each moment's delay is random and printed with any failure.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from bpftop.catalog import PROBE_NAMES
from tests.helpers.bpftool import (
    BPFTOP_PROGRAMS,
    UPROBE_EVENTS,
    loaded_programs,
    perf_attachments,
    wait_until_gone,
)
from tests.helpers.callee import callee_binary, callees
from tests.helpers.netns import veth_pair, xdp_prog_id
from tests.helpers.terminal import Terminal

pytestmark = pytest.mark.bpf
ALL_ATTACHED = f"probes {len(PROBE_NAMES)}/{len(PROBE_NAMES)}"
OURS = BPFTOP_PROGRAMS | {"bpftop_xdp"}
SIGNALS = ["SIGKILL", "SIGTERM", "SIGHUP", "SIGINT"]
MOMENTS = ["startup", "attaching", "storm", "drilldown", "xdp"]
ENTER_ALT_SCREEN, LEAVE_ALT_SCREEN = b"\x1b[?1049h", b"\x1b[?1049l"


def our_programs() -> set[int]:
    return {i for i, name in loaded_programs().items() if name in OURS}


def links_of(programs: set[int]) -> list[dict[str, Any]]:
    out = subprocess.run(["bpftool", "-j", "link"], capture_output=True, text=True, check=True)
    return [link for link in json.loads(out.stdout or "[]") if link.get("prog_id") in programs]


@contextlib.contextmanager
def exec_storm() -> Iterator[None]:
    """/bin/true as fast as one thread can, until the block ends."""
    stop = threading.Event()

    def run() -> None:
        while not stop.is_set():
            subprocess.run(["/bin/true"], check=False)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(5)


def send(term: Terminal, name: str) -> None:
    if name == "SIGHUP":
        os.close(term.fd)  # the terminal goes away: the kernel hangs bpftop up
    else:
        os.kill(term.pid, getattr(signal, name))


@pytest.mark.parametrize("moment", MOMENTS)
@pytest.mark.parametrize("sig", SIGNALS)
def test_killed_at_any_moment_leaves_nothing(kernel_features, tmp_path, sig, moment) -> None:
    rng = random.Random()
    events_before = UPROBE_EVENTS.read_text()
    programs_before = our_programs()
    with contextlib.ExitStack() as stack:
        args: list[str] = []
        ifindex = None
        if moment == "drilldown":
            binary = stack.enter_context(callee_binary(tmp_path))
            (target,) = stack.enter_context(callees(binary))
            args = ["--pid", str(target.pid), "--uprobe", "bpftop_callee:bpftop_work"]
        if moment == "xdp":
            pair = stack.enter_context(veth_pair())
            ifindex = pair.host_ifindex
            args = ["--xdp-attach", pair.host_if]
        term = Terminal(*args)
        delay = 0.0
        if moment == "startup":  # imports, first frame
            delay = rng.uniform(0.05, 0.4)
            time.sleep(delay)
        elif moment == "attaching":  # the probes compile one after another
            delay = rng.uniform(0.5, 1.4)
            time.sleep(delay)
        elif moment != "drilldown":  # (the drilldown covers the header)
            assert term.wait_for(ALL_ATTACHED), term.text()
        seen = our_programs() - programs_before
        context = f"{sig} at {moment} (+{delay:.2f} s); programs {sorted(seen)}"
        if moment == "storm":
            with exec_storm():
                time.sleep(rng.uniform(0.2, 1.0))
                seen = our_programs() - programs_before
                send(term, sig)
                code = term.exited_within(6)
        else:
            if moment == "drilldown":
                uprobes = ("uprobe", "uretprobe")
                deadline = time.monotonic() + 20
                while perf_attachments(term.pid, uprobes) < 2 and time.monotonic() < deadline:
                    time.sleep(0.1)
                assert perf_attachments(term.pid, uprobes) == 2, context
                target.call(10)
            if moment == "xdp":
                assert ifindex is not None
                deadline = time.monotonic() + 10
                while xdp_prog_id(ifindex) is None and time.monotonic() < deadline:
                    time.sleep(0.1)
                assert xdp_prog_id(ifindex) is not None, context
            seen = our_programs() - programs_before
            send(term, sig)
            code = term.exited_within(6)
        if sig != "SIGHUP":
            os.close(term.fd)
        assert code is not None, f"still running 6 s after {context}"

        # Also what it loaded after `seen` was taken (killed while attaching): the process
        # is gone, so the set is final; the kernel frees programs a moment after the fds go.
        assert wait_until_gone(seen | (our_programs() - programs_before)) == set(), context
        assert links_of(seen) == [], context
        assert perf_attachments(term.pid) == 0, context
        assert UPROBE_EVENTS.read_text() == events_before, context
        if ifindex is not None:
            deadline = time.monotonic() + 10
            while xdp_prog_id(ifindex) is not None and time.monotonic() < deadline:
                time.sleep(0.1)
            assert xdp_prog_id(ifindex) is None, context
        if moment == "drilldown":
            target.call(10)  # the target runs on
        screen = bytes(term.screen)
        if sig in ("SIGTERM", "SIGINT") and ENTER_ALT_SCREEN in screen:
            # bpftop could restore the terminal: it left the alternate screen last.
            tail = screen[screen.rindex(ENTER_ALT_SCREEN) :]
            assert LEAVE_ALT_SCREEN in tail, context
