"""Ask bpftool what the kernel has loaded: the independent check that detaching is real."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

from tests.helpers.timing import SLOWDOWN, wait_until

# Names bcc gives bpftop's programs (one per TRACEPOINT_PROBE in bpf/*.c).
BPFTOP_PROGRAMS = {
    "tracepoint__sched__sched_process_fork",
    "tracepoint__sched__sched_process_exec",
    "kretfunc__vmlinux____x64_sys_execve",  # failed execs, where fexit loads
    "kretfunc__vmlinux____x64_sys_execveat",
    "kretfunc____x64_sys_execve",  # the same, attached again after F turned them off
    "kretfunc____x64_sys_execveat",
    "kretprobe____x64_sys_execve",  # failed execs, where kprobes do
    "kretprobe____x64_sys_execveat",
    "tracepoint__syscalls__sys_enter_execve",
    "tracepoint__syscalls__sys_exit_execve",
    "tracepoint__syscalls__sys_enter_execveat",
    "tracepoint__syscalls__sys_exit_execveat",
    "tracepoint__sock__inet_sock_set_state",
    "tracepoint__tcp__tcp_receive_reset",
    "tracepoint__tcp__tcp_retransmit_skb",
    "tracepoint__block__block_io_start",
    "tracepoint__block__block_bio_queue",  # before 6.5
    "tracepoint__block__block_bio_backmerge",
    "tracepoint__block__block_rq_insert",
    "tracepoint__block__block_rq_issue",
    "tracepoint__block__block_rq_requeue",
    "tracepoint__block__block_rq_merge",
    "tracepoint__block__block_rq_complete",
    "tracepoint__capability__cap_capable",
    "kprobe__cap_capable",  # kernels without that tracepoint
    "kretprobe__cap_capable",
    "kretfunc__vmlinux__hook_file_open",  # where fexit loads: which LSM refused
    "kretfunc__vmlinux__apparmor_file_open",
    "kretfunc__hook_file_open",  # the same, attached again as the denials pane comes back
    "kretfunc__apparmor_file_open",
    "tracepoint__xdp__xdp_exception",
    "tracepoint__xdp__xdp_redirect_err",
    "sys_exit",  # bcc names a RAW_TRACEPOINT_PROBE after the tracepoint alone
    "sys_enter",
    *(f"{kind}_{slot}" for kind in ("enter", "leave") for slot in range(16)),  # uprobes.c
}


# Run by its full path: a PATH search is a string of failed execs, which the exec
# probe's exact tests would count as this process's.
BPFTOOL = shutil.which("bpftool") or "bpftool"

UPROBE_EVENTS = Path("/sys/kernel/tracing/uprobe_events")  # uprobes written to tracefs


def perf_attachments(pid: int, kinds: tuple[str, ...] | None = None) -> int:
    """Perf-event attachments a process holds (tracepoints, uprobes, ...), per bpftool."""
    out = subprocess.run([BPFTOOL, "-j", "perf"], capture_output=True, text=True, check=True)
    return sum(
        1
        for entry in json.loads(out.stdout or "[]")
        if entry.get("pid") == pid and (kinds is None or entry.get("fd_type") in kinds)
    )


def loaded_programs() -> dict[int, str]:
    """id -> name of every BPF program loaded in the kernel."""
    out = subprocess.run(
        [BPFTOOL, "-j", "prog", "show"], check=True, capture_output=True, text=True
    ).stdout
    return {p["id"]: p.get("name", "") for p in json.loads(out or "[]")}


def map_names_of(program_ids: set[int]) -> set[str]:
    """The names of the maps these programs use (bcc names a map after its table)."""
    out = subprocess.run(
        [BPFTOOL, "-j", "prog", "show"], check=True, capture_output=True, text=True
    )
    map_ids = {m for p in json.loads(out.stdout or "[]") if p["id"] in program_ids
               for m in p.get("map_ids", [])}  # fmt: skip
    out = subprocess.run([BPFTOOL, "-j", "map", "show"], check=True, capture_output=True, text=True)
    return {m.get("name", "") for m in json.loads(out.stdout or "[]") if m["id"] in map_ids}


def attached_sys_exit_programs() -> int:
    """How many raw_tracepoint:sys_exit programs are attached on the box (bpftool link)."""
    out = subprocess.run([BPFTOOL, "-j", "link"], capture_output=True, text=True, check=True)
    return sum(
        1
        for link in json.loads(out.stdout or "[]")
        if link.get("type") == "raw_tracepoint" and link.get("tp_name") == "sys_exit"
    )


def attached_program_ids() -> set[int]:
    """Programs attached anywhere: through perf events (tracepoints, kprobes, uprobes)
    or links (raw tracepoints, fexit). Loaded but detached programs are not in it."""
    perf = subprocess.run([BPFTOOL, "-j", "perf"], capture_output=True, text=True, check=True)
    link = subprocess.run([BPFTOOL, "-j", "link"], capture_output=True, text=True, check=True)
    entries = [*json.loads(perf.stdout or "[]"), *json.loads(link.stdout or "[]")]
    return {entry["prog_id"] for entry in entries if "prog_id" in entry}


def probe_program_ids(engine: Any, probe: str) -> set[int]:
    """Ids of the programs an engine's probe reports as its own."""
    from bpftop.loader.stats import BpfStats

    stats = BpfStats()
    try:
        return {stats.prog_info(fd)[0] for fd in engine.probes[probe].prog_fds()}
    finally:
        stats.close()


def attached_names(engine: Any, probe: str) -> list[str]:
    """Names of a probe's programs that are attached now, sorted (a name can repeat).
    bcc loads an fexit program as kretfunc__vmlinux__FN at start and as kretfunc__FN when
    attached again by name: both read kretfunc__FN here."""
    ids = probe_program_ids(engine, probe) & attached_program_ids()
    loaded = loaded_programs()
    return sorted(loaded[i].replace("kretfunc__vmlinux__", "kretfunc__") for i in ids)


def bpftop_program_ids() -> set[int]:
    return {pid for pid, name in loaded_programs().items() if name in BPFTOP_PROGRAMS}


def wait_until_gone(ids: set[int], timeout: float = 10.0) -> set[int]:
    """Program ids from `ids` still loaded after waiting up to `timeout` (the kernel
    frees programs asynchronously once the last fd closes)."""
    wait_until(lambda: not ids & set(loaded_programs()), timeout / SLOWDOWN)
    return ids & set(loaded_programs())
