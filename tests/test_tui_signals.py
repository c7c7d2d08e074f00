"""The TUI in a real pseudo-terminal: losing the terminal (an SSH session dropping) or a
SIGTERM ends bpftop promptly, and nothing it attached stays in the kernel."""

from __future__ import annotations

import os
import signal

import pytest

from bpftop.catalog import PROBE_NAMES
from tests.helpers.bpftool import bpftop_program_ids, wait_until_gone
from tests.helpers.terminal import Terminal

pytestmark = pytest.mark.bpf
ALL_ATTACHED = f"probes {len(PROBE_NAMES)}/{len(PROBE_NAMES)}"


@pytest.mark.parametrize("how", ["hangup", "sigterm", "sighup"])
def test_tui_leaves_promptly_and_detaches_everything(kernel_features, how: str) -> None:
    before = bpftop_program_ids()
    term = Terminal()
    assert term.wait_for(ALL_ATTACHED), term.screen[-2000:].decode("utf-8", "replace")
    mine = bpftop_program_ids() - before
    assert mine, "the TUI's programs should be loaded"
    if how == "hangup":
        os.close(term.fd)  # the terminal goes away: the kernel sends SIGHUP
    else:
        os.kill(term.pid, signal.SIGTERM if how == "sigterm" else signal.SIGHUP)
    code = term.exited_within(6)
    if how != "hangup":
        os.close(term.fd)
    assert code is not None, "bpftop was still running 6 s after the signal"
    assert wait_until_gone(mine) == set()
