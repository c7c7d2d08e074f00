"""Syscall names and which argument of each is a path or a socket address (x86_64).

Names come from the kernel's uapi header (linux-libc-dev, installed with the C
toolchain bcc needs); a number the header does not know is shown as "syscall_N".
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

UNISTD_HEADERS = (
    Path("/usr/include/x86_64-linux-gnu/asm/unistd_64.h"),
    Path("/usr/include/asm/unistd_64.h"),
)

# Zero-based index of the path argument, for the syscalls that take one.
PATH_ARG = {
    "open": 0, "openat": 1, "openat2": 1, "creat": 0, "stat": 0, "lstat": 0,
    "newfstatat": 1, "statx": 1, "access": 0, "faccessat": 1, "faccessat2": 1,
    "execve": 0, "execveat": 1, "chdir": 0, "chroot": 0, "chmod": 0, "fchmodat": 1,
    "fchmodat2": 1, "chown": 0, "lchown": 0, "fchownat": 1, "mkdir": 0, "mkdirat": 1,
    "rmdir": 0, "unlink": 0, "unlinkat": 1, "rename": 0, "renameat": 1, "renameat2": 1,
    "link": 0, "linkat": 1, "symlink": 1, "symlinkat": 2, "readlink": 0, "readlinkat": 1,
    "truncate": 0, "mknod": 0, "mknodat": 1, "utimes": 0, "utimensat": 1, "mount": 1,
    "umount2": 0, "setxattr": 0, "lsetxattr": 0, "getxattr": 0, "lgetxattr": 0,
    "listxattr": 0, "llistxattr": 0, "removexattr": 0, "lremovexattr": 0, "swapon": 0,
    "swapoff": 0, "acct": 0, "pivot_root": 0, "statfs": 0, "uselib": 0,
}  # fmt: skip
# Zero-based index of the sockaddr argument.
SOCKADDR_ARG = {"connect": 1, "bind": 1, "sendto": 4}

# x86_64 syscalls newer than Debian 12's headers (6.1). 335/336 are what a
# uretprobe/uprobe trampoline calls: the drilldown's own uprobes show up as them.
NEWER_SYSCALLS = {
    335: "uretprobe", 336: "uprobe", 451: "cachestat", 452: "fchmodat2",
    453: "map_shadow_stack", 454: "futex_wake", 455: "futex_wait", 456: "futex_requeue",
    457: "statmount", 458: "listmount", 459: "lsm_get_self_attr", 460: "lsm_set_self_attr",
    461: "lsm_list_modules", 462: "mseal", 463: "setxattrat", 464: "getxattrat",
    465: "listxattrat", 466: "removexattrat", 467: "open_tree_attr",
}  # fmt: skip

ARG_PATH = 1
ARG_SOCKADDR = 2


@cache
def syscall_numbers() -> dict[str, int]:
    for header in UNISTD_HEADERS:
        try:
            text = header.read_text()
        except OSError:
            continue
        return {m[1]: int(m[2]) for m in re.finditer(r"#define __NR_(\w+)\s+(\d+)", text)}
    return {}


@cache
def syscall_names() -> dict[int, str]:
    return {**NEWER_SYSCALLS, **{nr: name for name, nr in syscall_numbers().items()}}


def syscall_name(nr: int) -> str:
    return syscall_names().get(nr, f"syscall_{nr}")


def argument_kinds() -> dict[int, int]:
    """syscall number -> (kind << 4) | argument index, as bpf/denials.c reads it."""
    numbers = syscall_numbers()
    kinds = {numbers[name]: (ARG_PATH << 4) | i for name, i in PATH_ARG.items() if name in numbers}
    for name, i in SOCKADDR_ARG.items():
        if name in numbers:
            kinds[numbers[name]] = (ARG_SOCKADDR << 4) | i
    return kinds
