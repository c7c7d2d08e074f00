"""Pre-flight: what stops bpftop from running here or with these options, found
before anything attaches, as one line the user can act on."""

from __future__ import annotations

from bpftop.cli.options import Options
from bpftop.host.kernel import KernelFeatures


def preflight(kernel: KernelFeatures) -> str | None:
    """One line saying what stops bpftop from running here and how to fix it."""
    if not kernel.can_bpf:
        return "bpftop needs root (CAP_BPF and CAP_PERFMON): run it as `sudo bpftop`"
    if kernel.tracefs is None:
        return "tracefs is not mounted: run `mount -t tracefs nodev /sys/kernel/tracing`"
    if kernel.headers is None:
        return (
            f"no kernel headers at /lib/modules/{kernel.release}/build: install "
            f"linux-headers-{kernel.release} (or run `make setup`, which links the distro's)"
        )
    return None


def usage_problem(options: Options) -> str | None:
    """Options that do not go together."""
    if options.xdp_drop and not options.xdp_attach:
        return "--xdp-drop needs --xdp-attach IFNAME"
    if options.metrics_labels and not options.serve:
        return "--metrics-labels needs --serve"
    if options.bundle and options.serve:
        return "--bundle or --serve, not both"
    return None


def pid_probe_problem(options: Options) -> str | None:
    """The syscalls and uprobes probes need one live pid, and functions the symbol
    table can place."""
    from bpftop.host.user_binaries import UserCodeError, check_spec

    wanted = options.pid_probes
    pid = options.user_filter.pid
    if pid is None:
        return f"{'/'.join(wanted)} need --pid PID" if wanted else None
    for spec in options.uprobes:
        try:
            check_spec(pid, spec)
        except UserCodeError as exc:
            return f"--uprobe {spec}: {exc}"
    return None


def xdp_target_problem(ifnames: tuple[str, ...]) -> str | None:
    """Why bpftop's XDP counter cannot go on one of these interfaces, if it cannot."""
    from bpftop.host.interfaces import LinkReader
    from bpftop.loader.stats import BpfStats

    reader = LinkReader()
    try:
        links = {link.ifname: link for link in reader.links()}
    finally:
        reader.close()
    for name in ifnames:
        link = links.get(name)
        if link is None:
            return f"--xdp-attach: no interface {name!r}"
        if link.xdp_prog_id is not None:
            prog = BpfStats().prog_name(link.xdp_prog_id) or "?"
            return (
                f"--xdp-attach: {name} already has an XDP program (id {link.xdp_prog_id},"
                f" {prog}); bpftop never replaces one"
            )
    return None
