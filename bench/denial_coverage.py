"""Could denials come from hooks that cost nothing on other syscalls? On a kernel where
fexit loads, count, for one denial of each common kind, what the sys_exit program sees
(a syscall failing with EACCES/EPERM: what the denials pane counts) against fexit on the
permission functions that refuse it. A hook plan is only as good as the kinds it sees
exactly once, and the refusals it sees that fail no syscall (silent checks).

Run where fexit loads: scripts/kernel-vm 6.1 -- .venv/bin/python bench/denial_coverage.py
"""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT)]

from tests.helpers.c_helpers import compile_c  # noqa: E402

RUNS = 100  # denials of each kind
COMM = "denywork"
HELPER_C = r"""
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
/* denywork KIND N DIR: N denied attempts of one kind, as uid/gid 65534; exit 1 if any
 * attempt was not denied. DIR holds root's files (made by the bench). */
int main(int argc, char **argv) {
    const char *kind = argv[1], *dir = argv[3];
    long n = atol(argv[2]);
    char path[512];
    if (setgid(65534) || setuid(65534)) return 2;
    for (long i = 0; i < n; i++) {
        int r;
        if (!strcmp(kind, "open")) {
            snprintf(path, sizeof(path), "%s/secret", dir);
            r = open(path, O_RDONLY);
        } else if (!strcmp(kind, "mkdir")) {
            snprintf(path, sizeof(path), "%s/closed/new", dir);
            r = mkdir(path, 0700);
        } else if (!strcmp(kind, "exec")) {
            snprintf(path, sizeof(path), "%s/notexec", dir);
            char *args[] = {path, NULL};
            r = execve(path, args, args + 1);
        } else if (!strcmp(kind, "unlink-sticky")) {
            snprintf(path, sizeof(path), "%s/sticky/roots", dir);
            r = unlink(path);
        } else if (!strcmp(kind, "kill")) {
            r = kill(1, 0);
        } else if (!strcmp(kind, "setuid")) {
            r = setuid(0);
        } else if (!strcmp(kind, "chown")) {
            snprintf(path, sizeof(path), "%s/sticky/mine", dir);
            r = chown(path, 0, 0);
        } else if (!strcmp(kind, "bind")) {
            int s = socket(AF_INET, SOCK_STREAM, 0);
            struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(80)};
            a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
            r = bind(s, (struct sockaddr *)&a, sizeof(a));
            close(s);
        } else return 2;
        if (r >= 0 || (errno != EACCES && errno != EPERM)) return 1;
    }
    return 0;
}
"""
KINDS = ("open", "mkdir", "exec", "unlink-sticky", "kill", "setuid", "chown", "bind")

# fexit on each candidate; only the return value matters (the last argument).
HOOKS = {
    "inode_permission": "void *a, void *b, int mask",
    "generic_permission": "void *a, void *b, int mask",
    "security_inode_permission": "void *inode, int mask",
    "security_file_open": "void *file",
    "cap_capable": "void *cred, void *ns, int cap, unsigned int opts",
    "security_capable": "void *cred, void *ns, int cap, unsigned int opts",
}
PROGRAM = r"""
#include <uapi/linux/ptrace.h>
BPF_ARRAY(seen, u64, 16);
static __always_inline int ours(void)
{
    char comm[16];
    bpf_get_current_comm(comm, sizeof(comm));
    return comm[0] == 'd' && comm[1] == 'e' && comm[2] == 'n' && comm[3] == 'y' &&
           comm[4] == 'w' && comm[5] == 'o' && comm[6] == 'r' && comm[7] == 'k';
}
static __always_inline void bump(int slot)
{
    u64 *v = seen.lookup(&slot);
    if (v)
        __sync_fetch_and_add(v, 1);
}
RAW_TRACEPOINT_PROBE(sys_exit)
{
    long ret = (long)ctx->args[1];
    if ((ret == -13 || ret == -1) && ours())
        bump(0);
    return 0;
}
"""


def fexit_program(slot: int, name: str, args: str) -> str:
    return f"""
KRETFUNC_PROBE({name}, {args}, int ret)
{{
    if (ret < 0 && ours())
        bump({slot});
    return 0;
}}
"""


def make_dir() -> Path:
    base = Path(tempfile.mkdtemp(prefix="bpftop-coverage-"))
    base.chmod(0o755)
    (base / "secret").write_text("root only\n")
    (base / "secret").chmod(0o600)
    (base / "closed").mkdir(mode=0o755)
    (base / "notexec").write_text("#!/bin/sh\n")
    (base / "notexec").chmod(0o644)
    sticky = base / "sticky"
    sticky.mkdir()
    sticky.chmod(0o1777)
    (sticky / "roots").write_text("x")
    (sticky / "mine").write_text("x")
    os.chown(sticky / "mine", 65534, 65534)
    return base


def main() -> int:
    from bcc import BPF

    available = set()
    with open("/sys/kernel/tracing/available_filter_functions") as functions:
        for line in functions:
            available.add(line.split(" ", 1)[0].strip())
    hooks = [name for name in HOOKS if name in available]
    text = PROGRAM + "".join(fexit_program(i + 1, n, HOOKS[n]) for i, n in enumerate(hooks))
    bpf = BPF(text=text)
    seen = bpf[b"seen"]
    base = make_dir()
    work = Path(tempfile.mkdtemp(prefix="bpftop-coverage-bin-"))
    helper = compile_c(work, COMM, HELPER_C)
    columns = ["sys_exit", *hooks]
    print(f"denials of each kind: {RUNS}; kernel {os.uname().release}")
    print("  " + "kind".ljust(14) + "".join(c.rjust(26) for c in columns))
    for kind in KINDS:
        for slot in range(len(columns)):
            seen[ctypes.c_int(slot)] = ctypes.c_ulonglong(0)
        status = subprocess.run([str(helper), kind, str(RUNS), str(base)]).returncode
        counts = [int(seen[ctypes.c_int(slot)].value) for slot in range(len(columns))]
        note = "" if status == 0 else f"  (helper exit {status}: not every attempt was denied)"
        print("  " + kind.ljust(14) + "".join(str(c).rjust(26) for c in counts) + note)
    bpf.cleanup()
    subprocess.run(["rm", "-rf", str(base), str(work)], check=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
