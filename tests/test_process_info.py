"""The drilldown's facts about a process, read from /proc of a real one."""

from __future__ import annotations

import os
import subprocess
import sys

from bpftop.host.process_info import ProcessWatcher


def test_descriptors_count_every_open_fd_not_only_regular_files(tmp_path) -> None:
    """A process with a pipe, /dev/null and a log open: psutil's open_files() lists the
    log alone, which made the header say `files 1` (or `files 0` with no file open)."""
    log = tmp_path / "app.log"
    child = subprocess.Popen(
        [sys.executable, "-c",
         "import os, sys, time\n"
         f"log = open({str(log)!r}, 'a')\n"
         "r, w = os.pipe()\n"
         "print('ready', flush=True)\n"
         "time.sleep(30)\n"],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert child.stdout is not None and child.stdout.readline() == "ready\n"
        info = ProcessWatcher(child.pid).read()
        assert info is not None
        on_proc = os.listdir(f"/proc/{child.pid}/fd")
        assert info.fds == len(on_proc)
        targets = {entry.split(" ", 1)[1] for entry in info.files}
        assert {"/dev/null", str(log)} <= targets
        assert sum(1 for t in targets if t.startswith("pipe:")) >= 2  # stdout, and r/w
        assert "0 /dev/null" in info.files
    finally:
        child.kill()
        child.wait()
