"""bpftop: a top-style eBPF dashboard for a first look at a misbehaving Linux box."""

__version__ = "0.1.0"
