#!/usr/bin/env bash
# `make install` / `make uninstall`: a `bpftop` launcher on sudo's secure_path that
# runs this checkout's venv, and the systemd unit for `bpftop --serve` (disabled).
# Idempotent; never overwrites or removes a file that it did not write.
set -euo pipefail
cd "$(dirname "$0")/.."

BIN_DIR="${BIN_DIR:-/usr/local/bin}"
UNIT_DIR="${UNIT_DIR:-/etc/systemd/system}"
LAUNCHER="$BIN_DIR/bpftop"
UNIT="$UNIT_DIR/bpftop.service"
MARK="# written by bpftop's make install"
# Debian's sudo secure_path: /usr/local/sbin is the only directory before ours.
SECURE_PATH="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

say() { printf '%s: %s\n' "make ${verb:-install}" "$*" >&2; }
ours() { [ -f "$1" ] && grep -qF "$MARK" "$1"; }
systemd_running() { [ -d /run/systemd/system ] && command -v systemctl >/dev/null; }

install_all() {
    if [ ! -x .venv/bin/bpftop ]; then
        say "no .venv/bin/bpftop: run make setup first"
        exit 1
    fi
    for f in "$LAUNCHER" "$UNIT"; do
        if [ -e "$f" ] && ! ours "$f"; then
            say "$f exists and is not bpftop's launcher or unit: move it away first"
            exit 1
        fi
    done
    # Another program named bpftop (Netflix's BPF program monitor is packaged so).
    local shadowed=0 dir other
    IFS=: read -ra dirs <<<"$SECURE_PATH:${PATH:-}"
    declare -A seen=()
    for dir in "${dirs[@]}"; do
        other="$dir/bpftop"
        [ -n "$dir" ] && [ -z "${seen[$dir]:-}" ] || continue
        seen[$dir]=1
        if [ "$other" != "$LAUNCHER" ] && [ -x "$other" ] && ! ours "$other"; then
            say "another program named bpftop is at $other (not this one; perhaps Netflix's BPF program monitor)"
            if [ "$dir" = /usr/local/sbin ]; then
                shadowed=1
            fi
        fi
    done
    mkdir -p "$BIN_DIR"
    local tmp
    tmp="$(mktemp "$BIN_DIR/.bpftop.XXXXXX")"
    printf '#!/bin/sh\n%s from %s (make uninstall removes it)\nexec %q "$@"\n' \
        "$MARK" "$PWD" "$PWD/.venv/bin/bpftop" >"$tmp"
    chmod 0755 "$tmp"
    mv -f "$tmp" "$LAUNCHER"
    say "installed $LAUNCHER: \`sudo bpftop\` runs this checkout's bpftop"
    if [ -d "$UNIT_DIR" ] || mkdir -p "$UNIT_DIR"; then
        tmp="$(mktemp "$UNIT_DIR/.bpftop.XXXXXX")"
        { echo "$MARK"; sed "s#/usr/local/bin/bpftop#$LAUNCHER#" scripts/bpftop.service; } >"$tmp"
        chmod 0644 "$tmp"
        mv -f "$tmp" "$UNIT"
        if systemd_running; then
            systemctl daemon-reload
        fi
        say "installed $UNIT (disabled; start it with: systemctl enable --now bpftop)"
    fi
    if [ "$shadowed" = 1 ]; then
        say "/usr/local/sbin/bpftop comes before $BIN_DIR on sudo's path: \`sudo bpftop\` runs that one; use $LAUNCHER"
        exit 1
    fi
}

uninstall_all() {
    if ours "$UNIT"; then
        if systemd_running; then
            systemctl disable --now bpftop.service >/dev/null 2>&1 || true
        fi
        rm -f "$UNIT"
        if systemd_running; then
            systemctl daemon-reload
        fi
        say "removed $UNIT"
    elif [ -e "$UNIT" ]; then
        say "left $UNIT alone: not written by bpftop"
    fi
    if ours "$LAUNCHER"; then
        rm -f "$LAUNCHER"
        say "removed $LAUNCHER"
    elif [ -e "$LAUNCHER" ]; then
        say "left $LAUNCHER alone: not written by bpftop"
    fi
    # bpftop's compile cache (bpftop/loader/compile_cache.py): only bpftop writes there.
    if [ -d /var/cache/bpftop ]; then
        rm -rf /var/cache/bpftop
        say "removed /var/cache/bpftop (compiled probes)"
    fi
}

if [ "$(id -u)" -ne 0 ]; then
    echo "make install: must run as root (try: sudo make install)" >&2
    exit 2
fi
verb="${1:-install}"
case "$verb" in
    install) install_all ;;
    uninstall) uninstall_all ;;
    *) echo "usage: $0 install|uninstall" >&2; exit 2 ;;
esac
