"""What this kernel lets bpftop do, detected once at start.

Everything here is a cheap file check or a libbpf feature probe (which loads a
trivial program and unloads it); nothing stays attached.
"""

from __future__ import annotations

import ctypes
import os
import platform
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

TRACEFS_CANDIDATES = (Path("/sys/kernel/tracing"), Path("/sys/kernel/debug/tracing"))
LOCKDOWN_FILE = Path("/sys/kernel/security/lockdown")
UPROBE_PMU = Path("/sys/bus/event_source/devices/uprobe")

# enum bpf_prog_type / bpf_map_type values from uapi/linux/bpf.h
PROG_TYPES = {
    "kprobe": 2,
    "tracepoint": 5,
    "xdp": 6,
    "perf_event": 7,
    "raw_tracepoint": 17,
    "tracing": 26,  # fentry/fexit
    "lsm": 29,
}
MAP_TYPE_RINGBUF = 27
# BPF helpers bpftop's programs call that older kernels lack (enum bpf_func_id values,
# uapi/linux/bpf.h). Where one is missing the programs are compiled with a fallback
# (COMPAT_FLAGS) or the step that needs it is passed over (PlanStep.helpers).
HELPERS = {
    "get_current_ancestor_cgroup_id": 123,  # for tracing programs since 5.14
    "task_storage_get": 156,
    "get_current_task_btf": 158,
    "task_pt_regs": 175,  # since 5.15
}
HELPER_PROG_TYPES = ("kprobe", "tracepoint", "perf_event", "raw_tracepoint")
# -D flag: what bpf/bpftop.h does instead where any helper of the group is missing.
COMPAT_FLAGS = {
    "-DNO_TASK_PT_REGS": ("task_pt_regs", "get_current_task_btf"),
    "-DNO_ANCESTOR_CGROUP_ID": ("get_current_ancestor_cgroup_id",),
}

CAP_SYS_ADMIN = 21
CAP_PERFMON = 38
CAP_BPF = 39


@dataclass(frozen=True)
class KernelFeatures:
    release: str
    is_root: bool
    can_bpf: bool
    tracefs: Path | None
    lockdown: str | None
    headers: Path | None
    prog_types: frozenset[str]
    ringbuf: bool
    kprobes: bool
    # Tracepoints to report missing, so tests can simulate an older kernel.
    hidden_tracepoints: frozenset[str] = field(default_factory=frozenset)
    # The perf "uprobe" PMU: uprobes as fds, gone with the process. Without it bcc
    # writes uprobe_events, which outlives a killed bpftop, so bpftop refuses.
    uprobe_pmu: bool = False
    # Which of HELPERS a program of each type may call here, as (type, helper) pairs.
    helpers: frozenset[tuple[str, str]] = frozenset(
        (prog_type, helper) for prog_type in HELPER_PROG_TYPES for helper in HELPERS
    )

    def has_helper(self, prog_type: str, helper: str) -> bool:
        # fexit programs are offered what raw tracepoints are, and more.
        prog_type = "raw_tracepoint" if prog_type == "tracing" else prog_type
        return (prog_type, helper) in self.helpers

    def has_helper_everywhere(self, helper: str) -> bool:
        """Whether programs of every type that loads here may call `helper`."""
        return all(self.has_helper(prog_type, helper)
                   for prog_type in HELPER_PROG_TYPES if prog_type in self.prog_types)  # fmt: skip

    def compat_cflags(self) -> tuple[str, ...]:
        """The fallbacks every program is compiled with here (COMPAT_FLAGS): bpftop.h's
        functions run in programs of every type, so a helper missing for any is."""
        everywhere = self.has_helper_everywhere
        return tuple(flag for flag, needs in COMPAT_FLAGS.items()
                     if not all(everywhere(helper) for helper in needs))  # fmt: skip

    def has_tracepoint(self, name: str) -> bool:
        """`name` is "category:event", e.g. "sock:inet_sock_set_state"."""
        if self.tracefs is None or name in self.hidden_tracepoints:
            return False
        category, _, event = name.partition(":")
        return _is_dir(self.tracefs / "events" / category / event)

    def traceable_functions(self, names: Iterable[str]) -> frozenset[str]:
        """Which of `names` a kprobe or fexit program can go on (they are in
        available_filter_functions: they exist, are not inlined away, not blacklisted).
        One pass over a file of tens of thousands of lines, however many names."""
        wanted = set(names)
        if self.tracefs is None or not wanted:
            return frozenset()
        try:
            with (self.tracefs / "available_filter_functions").open() as functions:
                # Lines are "name" or "name [module]"
                return frozenset(
                    name for line in functions if (name := line.split(" ", 1)[0].strip()) in wanted
                )
        except OSError:
            return frozenset()

    def prog_type_reason(self, prog_type: str) -> str | None:
        """None when the program type is usable, else a short reason."""
        if prog_type == "kprobe" and not self.kprobes:
            return "unavailable, CONFIG_KPROBES off"
        if prog_type == "uprobe":
            if not self.uprobe_pmu:
                return "unavailable, no uprobe perf PMU (would need uprobe_events)"
            prog_type = "kprobe"  # uprobe programs are BPF_PROG_TYPE_KPROBE
        if prog_type in self.prog_types:
            return None
        if self.lockdown and self.lockdown != "none":
            return f"unavailable, lockdown={self.lockdown}"
        return "unavailable on this kernel"


def _is_dir(path: Path) -> bool:
    """Path.is_dir, but False where a non-root user may not even look (tracefs)."""
    try:
        return path.is_dir()
    except OSError:
        return False


def _exists(path: Path) -> bool:
    try:
        return path.exists()
    except OSError:
        return False


def _capabilities() -> int:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("CapEff:"):
                return int(line.split()[1], 16)
    except OSError:
        pass
    return 0


def _lockdown() -> str | None:
    try:
        text = LOCKDOWN_FILE.read_text()
    except OSError:
        return None
    for word in text.split():
        if word.startswith("["):
            return word.strip("[]")
    return None


def _probe_with_libbpf() -> tuple[frozenset[str], bool, frozenset[tuple[str, str]]]:
    """Ask libbpf which program types load here, whether the ring buffer exists and
    which HELPERS programs of each usable type may call (the probes bpftool uses)."""
    try:
        lib = ctypes.CDLL("libbpf.so.1")
    except OSError:
        return frozenset(), False, frozenset()
    probe_prog = lib.libbpf_probe_bpf_prog_type
    probe_prog.argtypes = [ctypes.c_int, ctypes.c_void_p]
    probe_map = lib.libbpf_probe_bpf_map_type
    probe_map.argtypes = [ctypes.c_int, ctypes.c_void_p]
    probe_helper = lib.libbpf_probe_bpf_helper
    probe_helper.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_void_p]
    usable = frozenset(name for name, num in PROG_TYPES.items() if probe_prog(num, None) == 1)
    helpers = frozenset((prog_type, name) for prog_type in HELPER_PROG_TYPES
                        if prog_type in usable for name, func in HELPERS.items()
                        if probe_helper(PROG_TYPES[prog_type], func, None) == 1)  # fmt: skip
    return usable, probe_map(MAP_TYPE_RINGBUF, None) == 1, helpers


def detect(
    hidden_tracepoints: Iterable[str] = (), hidden_helpers: Iterable[str] = ()
) -> KernelFeatures:
    """`hidden_*`: report these missing, so tests (and BPFTOP_HIDE_*) can run an older
    kernel's steps and fallbacks here."""
    caps = _capabilities()
    is_root = os.geteuid() == 0
    can_bpf = bool(caps & (1 << CAP_SYS_ADMIN)) or (
        bool(caps & (1 << CAP_BPF)) and bool(caps & (1 << CAP_PERFMON))
    )
    tracefs = next((p for p in TRACEFS_CANDIDATES if _is_dir(p / "events")), None)
    headers = Path("/lib/modules") / platform.release() / "build"
    prog_types, ringbuf, helpers = (
        _probe_with_libbpf() if can_bpf else (frozenset(), False, frozenset())
    )
    return KernelFeatures(
        release=platform.release(),
        is_root=is_root,
        can_bpf=can_bpf,
        tracefs=tracefs,
        lockdown=_lockdown(),
        headers=headers if _is_dir(headers / "include") else None,
        prog_types=prog_types,
        ringbuf=ringbuf,
        kprobes=tracefs is not None and _exists(tracefs / "kprobe_events"),
        hidden_tracepoints=frozenset(hidden_tracepoints),
        uprobe_pmu=_exists(UPROBE_PMU),
        helpers=frozenset(pair for pair in helpers if pair[1] not in set(hidden_helpers)),
    )
