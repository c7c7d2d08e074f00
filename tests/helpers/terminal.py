"""bpftop in a real pseudo-terminal, as a user's SSH session runs it."""

from __future__ import annotations

import os
import pty
import select
import signal
import threading
import time

from tests.helpers.cli import BPFTOP, ROOT
from tests.helpers.timing import wait_until


class Terminal:
    """bpftop as the session leader of a fresh pty, its screen read in the background."""

    def __init__(self, *args: str) -> None:
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # the child: the pty is its controlling terminal
            os.chdir(ROOT)
            os.environ["TERM"] = "xterm-256color"
            os.execv(BPFTOP[0], [*BPFTOP, *args])
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
        return wait_until(lambda: text.encode() in self.screen, timeout)

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
