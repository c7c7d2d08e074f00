"""Per-probe status and cost, as the panes' titles show them."""

from __future__ import annotations

from dataclasses import dataclass, replace

from bpftop.core.records import ProbeCounts, ProbeStatus


@dataclass(frozen=True)
class ProbeState:
    name: str
    state: str = "attaching"
    via: str | None = None
    reason: str | None = None
    skipped: tuple[tuple[str, str], ...] = ()
    code: str | None = None  # the status's code (records.py), beside its prose
    lost: int = 0
    bpf_cpu_percent: float = 0.0  # kernel time of its programs, % of one CPU

    @property
    def attached(self) -> bool:
        return self.state == "attached"

    def describe_plan(self) -> str:
        """`via tracepoint:x (fexit: unavailable, lockdown)` or the reason it is off."""
        if self.state == "unavailable":
            return f"unavailable: {self.reason or 'unknown reason'}"
        text = f"via {self.via}" if self.via else ""
        if self.reason:  # a notice while running (e.g. an XDP attach that was refused)
            text = f"{self.reason} · {text}"
        if self.skipped:
            skipped = (f"{_beyond(step, self.via)}: {why}" for step, why in self.skipped)
            text += " (" + "; ".join(skipped) + ")"
        return text

    def with_status(self, status: ProbeStatus) -> ProbeState:
        return replace(
            self,
            state=status.state,
            via=status.via or self.via,
            reason=status.reason,
            skipped=status.skipped or self.skipped,
            code=status.code,
            bpf_cpu_percent=0.0 if status.state != "attached" else self.bpf_cpu_percent,
        )

    def with_counts(self, counts: ProbeCounts) -> ProbeState:
        if counts.bpf_ns is None or counts.interval_s <= 0:  # not sampled: keep the last
            return replace(self, lost=self.lost + counts.lost)
        cpu = 100.0 * counts.bpf_ns / (counts.interval_s * 1e9)
        return replace(self, lost=self.lost + counts.lost, bpf_cpu_percent=cpu)


def _beyond(step: str, via: str | None) -> str:
    """What a skipped step ("a + b + c") has that the step in use lacks: the subtitle is
    one line, and a richer step mostly repeats the one in use."""
    used = set(via.split(" + ")) if via else set()
    extra = [part for part in step.split(" + ") if part not in used]
    return " + ".join(extra) or step
