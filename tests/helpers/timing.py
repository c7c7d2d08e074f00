"""How long a test may wait for the kernel, and the one way tests wait for something."""

from __future__ import annotations

import os
import time
from collections.abc import Awaitable, Callable

# Inside the kernel matrix's VMs (scripts/kernel-vm) everything runs under emulation,
# ~5-10x slower (a bcc compile takes up to 12 s): waits for what the kernel does stretch.
SLOWDOWN = 6.0 if os.environ.get("BPFTOP_IN_VM") else 1.0
POLL = 0.05  # seconds between two looks


def wait_until(
    ready: Callable[[], bool],
    timeout: float = 10.0,
    *,
    give_up: Callable[[], bool] = lambda: False,
) -> bool:
    """Whether `ready()` came true within `timeout` seconds (stretched by SLOWDOWN), looking
    every POLL seconds; stops early once `give_up()` (a process that exited, say)."""
    deadline = time.monotonic() + timeout * SLOWDOWN
    while not ready():
        if time.monotonic() > deadline or give_up():
            return ready()
        time.sleep(POLL)
    return True


async def wait_until_async(
    ready: Callable[[], bool], pause: Callable[[float], Awaitable[None]], timeout: float = 10.0
) -> bool:
    """wait_until for a Textual pilot: `pause` is `pilot.pause`, so the app runs meanwhile."""
    deadline = time.monotonic() + timeout * SLOWDOWN
    while not ready():
        if time.monotonic() > deadline:
            return ready()
        await pause(POLL)
    return True
