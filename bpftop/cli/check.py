"""`bpftop --check`: what this kernel offers bpftop and the attach step each probe would
take here, without attaching anything (file checks and libbpf's feature probes only).

Exit 0 when every probe has a step, 1 otherwise; `--json` prints one object."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, TextIO

from bpftop.catalog import PROBE_CLASSES
from bpftop.host.kernel import HELPERS, PROG_TYPES, KernelFeatures

BTF = Path("/sys/kernel/btf/vmlinux")
LSM_LIST = Path("/sys/kernel/security/lsm")


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def check_report(kernel: KernelFeatures) -> dict[str, Any]:
    """Everything --check says, as data (the --json output)."""
    tracepoints = sorted({tp for cls in PROBE_CLASSES for step in cls.plan
                          for tp in step.tracepoints})  # fmt: skip
    functions = sorted({fn for cls in PROBE_CLASSES for step in cls.plan
                        for fn in (*step.kprobes, *step.fexit)})  # fmt: skip
    probes = []
    for cls in PROBE_CLASSES:
        step, skipped = cls.plan_for(kernel)
        probes.append({
            "probe": cls.name,
            "via": step.via if step else None,
            "skipped": {via: why for via, why in skipped},
        })  # fmt: skip
    traceable = kernel.traceable_functions(functions)
    lsm = _read(LSM_LIST)
    return {
        "kernel": kernel.release,
        "can_bpf": kernel.can_bpf,
        "lockdown": kernel.lockdown,
        "btf": BTF.exists(),
        "ring_buffer": kernel.ringbuf,
        "kprobes": kernel.kprobes,
        "uprobe_pmu": kernel.uprobe_pmu,
        "tracefs": str(kernel.tracefs) if kernel.tracefs else None,
        "headers": str(kernel.headers) if kernel.headers else None,
        "lsm": lsm.split(",") if lsm else None,
        "prog_types": {name: kernel.prog_type_reason(name) is None for name in PROG_TYPES},
        "helpers": {f"bpf_{name}": kernel.has_helper_everywhere(name) for name in HELPERS},
        "helper_fallbacks": [flag.removeprefix("-D") for flag in kernel.compat_cflags()],
        "tracepoints": {tp: kernel.has_tracepoint(tp) for tp in tracepoints},
        "kernel_functions": {fn: fn in traceable for fn in functions},
        "probes": probes,
    }


def _yes(value: bool) -> str:
    return "yes" if value else "no"


def print_check(kernel: KernelFeatures, out: TextIO, *, as_json: bool) -> int:
    report = check_report(kernel)
    # Without tracefs or headers nothing compiles or attaches, whatever the plans say.
    ok = all(p["via"] for p in report["probes"]) and report["tracefs"] and report["headers"]
    if as_json:
        out.write(json.dumps(report) + "\n")
        return 0 if ok else 1
    missing = [tp for tp, there in report["tracepoints"].items() if not there]
    lines = [
        f"kernel {report['kernel']}: lockdown {report['lockdown'] or 'unknown'}, "
        f"BTF {_yes(report['btf'])}, ring buffer {_yes(report['ring_buffer'])}, "
        f"kprobes {_yes(report['kprobes'])}, uprobe PMU {_yes(report['uprobe_pmu'])}",
        "program types: " + ", ".join(
            f"{name} {_yes(usable)}" for name, usable in report["prog_types"].items()),
        "BPF helpers: " + ", ".join(
            f"{name} {_yes(there)}" for name, there in report["helpers"].items())
        + f"; fallbacks compiled in: {', '.join(report['helper_fallbacks']) or 'none'}",
        f"LSMs: {','.join(report['lsm']) if report['lsm'] else 'unknown'}",
        f"tracefs: {report['tracefs'] or 'NOT MOUNTED'}; headers: {report['headers'] or 'NONE'}",
        f"tracepoints: {len(report['tracepoints']) - len(missing)} of "
        f"{len(report['tracepoints'])} present" + (f"; missing {', '.join(missing)}"
                                                  if missing else ""),
        "traceable kernel functions: " + (", ".join(
            f"{fn} {_yes(there)}" for fn, there in report["kernel_functions"].items()) or "none"),
    ]  # fmt: skip
    width = max(len(p["probe"]) for p in report["probes"])
    for p in report["probes"]:
        skipped = "; ".join(f"{via}: {why}" for via, why in p["skipped"].items())
        lines.append(f"{p['probe']:<{width}}  {p['via'] or 'UNAVAILABLE'}"
                     + (f"  (skipped {skipped})" if skipped else ""))  # fmt: skip
    out.write("\n".join(lines) + "\n")
    return 0 if ok else 1
