#!/usr/bin/env bash
# Idempotent set-up for bpftop on Debian: packages, kernel headers, tracefs, venv.
# Every step checks before it acts, so `make run` can call this each time cheaply.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf 'setup: %s\n' "$*" >&2; }

if [ "$(id -u)" -ne 0 ]; then
    say "must run as root (try: sudo make setup)"
    exit 2
fi

# 1. Debian packages: bcc comes from Debian; the PyPI package named "bcc" is unrelated.
#    gcc builds the tests' helpers; linux-libc-dev has the syscall names; mount has losetup;
#    util-linux has unshare (a test hides tracefs in a mount namespace); bpftrace and htop
#    are what the benchmark compares bpftop with; systemd-analyze checks the unit.
PKGS="python3-bpfcc bpfcc-tools libbpfcc libbpf1 python3-venv bpftool bpftrace tmux gcc libc6-dev linux-libc-dev mount util-linux htop systemd"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
KVER="$(uname -r)"
if [ ! -e "/lib/modules/$KVER/build/include" ]; then
    # Prefer headers matching this kernel; the generic ones are the fallback below.
    if apt-cache show "linux-headers-$KVER" >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-cache show "linux-headers-$KVER" >/dev/null 2>&1; }; then
        missing="$missing linux-headers-$KVER"
    else
        dpkg-query -W -f='${Status}' linux-headers-amd64 2>/dev/null | grep -q "ok installed" || missing="$missing linux-headers-amd64"
    fi
fi
if [ -n "$missing" ]; then
    say "installing Debian packages:$missing"
    apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q $missing >/dev/null
fi

# 2. Kernel headers for bcc's compiler.
if [ ! -e "/lib/modules/$KVER/build/include" ]; then
    arch_dir="$(ls -d /usr/src/linux-headers-*-amd64 2>/dev/null | sort -V | tail -1)"
    common_dir="$(ls -d /usr/src/linux-headers-*-common 2>/dev/null | sort -V | tail -1)"
    if [ -z "$arch_dir" ] || [ -z "$common_dir" ]; then
        say "no kernel headers found under /usr/src; install linux-headers for $KVER"
        exit 1
    fi
    mkdir -p "/lib/modules/$KVER"
    ln -sfn "$arch_dir" "/lib/modules/$KVER/build"
    ln -sfn "$common_dir" "/lib/modules/$KVER/source"
    say "WARNING: no headers for kernel $KVER; linked $(basename "$arch_dir") instead."
    say "         Safe for bpftop: its programs read only tracepoint fields and uapi types."
fi

# 3. tracefs/debugfs (bcc attaches tracepoints through them) and securityfs (lockdown mode).
mountpoint -q /sys/kernel/tracing || mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null || true
mountpoint -q /sys/kernel/debug || mount -t debugfs nodev /sys/kernel/debug 2>/dev/null || true
mountpoint -q /sys/kernel/security || mount -t securityfs nodev /sys/kernel/security 2>/dev/null || true
if [ ! -e /sys/kernel/tracing/events ] && [ ! -e /sys/kernel/debug/tracing/events ]; then
    say "could not mount tracefs at /sys/kernel/tracing"
    exit 1
fi

# 4. The venv (scripts/venv.sh needs no root: `make lint` uses it alone).
bash scripts/venv.sh
