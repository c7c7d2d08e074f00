"""The TUI in a real pseudo-terminal: losing the terminal (an SSH session dropping) or a
SIGTERM ends bpftop promptly, and nothing it attached stays in the kernel."""

from __future__ import annotations

import os
import pty
import select
import signal
import sys
import threading
import time
from pathlib import Path

import pytest

from bpftop.registry import PROBE_NAMES
from tests.bpftool import bpftop_program_ids, wait_until_gone

pytestmark = pytest.mark.bpf
ROOT = Path(__file__).resolve().parent.parent
ALL_ATTACHED = f"probes {len(PROBE_NAMES)}/{len(PROBE_NAMES)}"


class Terminal:
    """bpftop as the session leader of a fresh pty, its screen read in the background."""

    def __init__(self, *args: str) -> None:
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # the child: the pty is its controlling terminal
            os.chdir(ROOT)
            os.environ["TERM"] = "xterm-256color"
            os.execv(sys.executable, [sys.executable, "-m", "bpftop.cli", *args])
        self.screen = bytearray()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while True:
            try:
                ready, _, _ = select.select([self.fd], [], [], 0.05)
                if ready:
                    chunk = os.read(self.fd, 65536)
                    if not chunk:
                        return
                    self.screen += chunk
            except OSError:  # the master was closed, or the child is gone
                return

    def text(self) -> str:
        """The end of what bpftop wrote, for failure messages."""
        return self.screen[-2000:].decode("utf-8", "replace")

    def wait_for(self, text: str, timeout: float = 30) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text.encode() in self.screen:
                return True
            time.sleep(0.05)
        return False

    def exited_within(self, seconds: float) -> int | None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                return os.waitstatus_to_exitcode(status)
            time.sleep(0.05)
        os.kill(self.pid, signal.SIGKILL)
        os.waitpid(self.pid, 0)
        return None


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
