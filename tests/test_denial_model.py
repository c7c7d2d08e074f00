"""Pure tests: the denials model keeps exact group totals and per-interval rates."""

from __future__ import annotations

from bpftop.core.records import DenialGroupRecord, DenialRecord, ProbeCounts
from bpftop.host.capabilities import capability_names
from bpftop.model.denials import DenialModel
from bpftop.probes.denial_probe import sockaddr_text


def counts(ts: float, denials: int, refused: int = 0, named: int = 0, sampled: int = 0):
    return ProbeCounts(ts, "denials", 1.0, {"denials": denials, "cap_refused": refused,
                       "cap_named": named, "sampled_out": sampled})  # fmt: skip


def group(ts: float, comm: str, count: int, syscall: str = "openat") -> DenialGroupRecord:
    return DenialGroupRecord(ts, 1.0, comm, 33, syscall, "EACCES", count)


def event(ts: float, comm: str, path: str) -> DenialRecord:
    return DenialRecord(ts, 7, comm, 33, "openat", "EACCES", path, None, "syscall", None)


def test_groups_sum_exactly_and_rate_only_the_last_interval() -> None:
    model = DenialModel()
    model.add_counts(counts(1.0, 50_010, refused=30, named=10, sampled=48_000))
    model.add_group(group(1.0, "crashloop", 50_000))
    model.add_group(group(1.0, "nginx", 10))
    model.add(event(1.0, "crashloop", "/etc/app/secret.key"))
    model.add_counts(counts(2.0, 3))
    model.add_group(group(2.0, "nginx", 3))
    snap = model.snapshot()
    by_comm = {g.comm: g for g in snap.groups}
    assert by_comm["crashloop"].total == 50_000 and by_comm["crashloop"].per_second == 0.0
    assert by_comm["nginx"].total == 13 and by_comm["nginx"].per_second == 3.0
    assert snap.groups[0].comm == "nginx"  # busiest now first
    assert by_comm["crashloop"].last is not None
    assert by_comm["crashloop"].last.path == "/etc/app/secret.key"
    assert snap.denials.total == 50_013
    assert snap.silent_cap_checks == 20
    assert snap.sampled_out == 48_000


def test_group_table_is_bounded_and_drops_quiet_small_groups_first() -> None:
    model = DenialModel(keep_groups=3)
    model.add_counts(counts(1.0, 0))
    for i, n in enumerate((5, 1, 9)):
        model.add_group(group(1.0, f"old{i}", n))
    model.add_counts(counts(2.0, 0))
    model.add_group(group(2.0, "new", 1))
    assert {g.comm for g in model.snapshot().groups} == {"old0", "old2", "new"}


def test_capability_masks_and_socket_addresses_decode() -> None:
    assert capability_names(1 << 10) == ["CAP_NET_BIND_SERVICE"]
    assert capability_names(0b110) == ["CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH"]
    inet = bytes([2, 0, 0, 80, 127, 0, 0, 1]) + bytes(20)
    assert sockaddr_text(inet) == "127.0.0.1:80"
    inet6 = bytes([10, 0, 1, 187]) + bytes(4) + bytes(15) + b"\x01" + bytes(4)
    assert sockaddr_text(inet6) == "[::1]:443"
    assert sockaddr_text(bytes([1, 0]) + b"/run/app.sock\0" + bytes(12)) == "/run/app.sock"
    assert sockaddr_text(bytes([1, 0]) + b"\0abstract\0" + bytes(16)) == "@abstract"
