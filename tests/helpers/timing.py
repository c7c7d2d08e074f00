"""How long a test may wait for the kernel."""

import os

# Inside the kernel matrix's VMs (scripts/kernel-vm) everything runs under emulation,
# ~5-10x slower (a bcc compile takes up to 12 s): waits for what the kernel does stretch.
SLOWDOWN = 6.0 if os.environ.get("BPFTOP_IN_VM") else 1.0
