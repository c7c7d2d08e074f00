"""A process whose connect() calls fail at once, in a network namespace of its own:
`python -m tests.helpers.connect_errors UNREACHABLE NO_PORT` makes UNREACHABLE connects to a
network with no route (ENETUNREACH), then, with one local port left, NO_PORT connects
that find none (EADDRNOTAVAIL). It prints its pid and the port it listened on."""

from __future__ import annotations

import ctypes
import errno
import os
import socket
import subprocess
import sys
from pathlib import Path

CLONE_NEWNET = 0x40000000
NOWHERE = ("10.9.9.9", 81)  # no route: the namespace has only lo
LAST_PORT = 40000


def main(unreachable: int, no_port: int) -> None:
    if ctypes.CDLL(None, use_errno=True).unshare(CLONE_NEWNET) != 0:
        sys.exit(f"unshare: {errno.errorcode[ctypes.get_errno()]}")
    for _ in range(unreachable):
        _expect(NOWHERE, errno.ENETUNREACH)
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    port = server.getsockname()[1]
    Path("/proc/sys/net/ipv4/ip_local_port_range").write_text(f"{LAST_PORT} {LAST_PORT}")
    holder = socket.create_connection(("127.0.0.1", port), timeout=5)  # the last port
    for _ in range(no_port):
        _expect(("127.0.0.1", port), errno.EADDRNOTAVAIL)
    holder.close()
    server.close()
    print(os.getpid(), port, flush=True)


def _expect(address: tuple[str, int], error: int) -> None:
    with socket.socket() as s:
        code = s.connect_ex(address)
    if code != error:
        got = errno.errorcode.get(code, code)
        sys.exit(f"connect to {address}: {got}, not {errno.errorcode[error]}")


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]))
