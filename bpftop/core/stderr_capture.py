"""Keep bcc's stderr (compiler errors, verifier logs) off the screen.

bcc and LLVM write straight to file descriptor 2. bpftop points fd 2 at an
unlinked temporary file for its whole run and hands its own writers (Textual's
driver, error messages) a duplicate of the real stderr. The BPF thread reads
what bcc wrote to put the gist of a failure in the pane's status.
"""

from __future__ import annotations

import os
import sys
import tempfile
from typing import TextIO


class StderrCapture:
    def __init__(self) -> None:
        self._saved_fd = -1
        self._log = tempfile.TemporaryFile(mode="w+b")  # noqa: SIM115  (lives as long as bpftop)
        self.terminal: TextIO = sys.stderr

    def start(self) -> None:
        sys.stderr.flush()
        self._saved_fd = os.dup(2)
        os.dup2(self._log.fileno(), 2)
        self.terminal = os.fdopen(os.dup(self._saved_fd), "w", buffering=1)
        # Textual's driver writes the screen to sys.__stderr__.
        sys.stderr = sys.__stderr__ = self.terminal  # type: ignore[misc]

    def stop(self) -> None:
        if self._saved_fd < 0:
            return
        os.dup2(self._saved_fd, 2)
        os.close(self._saved_fd)
        self._saved_fd = -1
        sys.stderr = sys.__stderr__ = os.fdopen(os.dup(2), "w", buffering=1)  # type: ignore[misc]

    def mark(self) -> int:
        return os.fstat(self._log.fileno()).st_size

    def since(self, offset: int) -> str:
        return os.pread(self._log.fileno(), 1 << 20, offset).decode("utf-8", "replace")


def first_error_line(text: str) -> str | None:
    """The line of a bcc/LLVM/verifier log worth showing in one line."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for line in lines:
        if "error:" in line:
            return line
    return lines[-1] if lines else None
