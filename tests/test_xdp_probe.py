"""Real kernel: the XDP probe reports a foreign XDP program and, from the driver's own
counters, exactly the packets it dropped, without touching it."""

from __future__ import annotations

import pytest

from bpftop.records import ProbeCounts, ProbeStatus, XdpRecord
from tests.netns import foreign_xdp_drop, send_udp, veth_pair

pytestmark = pytest.mark.bpf
PACKETS = 57


def test_drops_of_a_foreign_program_from_driver_counters(engine_for) -> None:
    with veth_pair() as pair, foreign_xdp_drop(pair.host_ifindex):
        engine, sink = engine_for("xdp", interval=0.3)
        assert [s.state for s in sink.of_type(ProbeStatus)][-1] == "attached"

        def driver() -> list[XdpRecord]:
            return [r for r in sink.of_type(XdpRecord)
                    if r.ifname == pair.host_if and r.source == "driver"]  # fmt: skip

        assert sink.wait_for(lambda: len(driver()) >= 2)  # a baseline interval went by
        send_udp(pair, PACKETS)
        assert sink.wait_for(lambda: sum(r.actions["drop"] or 0 for r in driver()) >= PACKETS)
        engine.stop()
    records = driver()
    assert sum(r.actions["drop"] or 0 for r in records) == PACKETS
    assert sum((r.actions["pass"] or 0) + (r.actions["tx"] or 0) for r in records) == 0
    prog = records[-1].prog
    assert prog is not None
    assert (prog["name"], prog["mode"], prog["owner"]) == ("xdp_drop_all", "driver", "foreign")


def test_an_interface_that_vanishes_is_dropped_not_a_crash(engine_for) -> None:
    engine, sink = engine_for("xdp", interval=0.2)
    with veth_pair() as pair:
        name = pair.host_if
        assert sink.wait_for(lambda: any(r.ifname == name for r in sink.of_type(XdpRecord)))
    gone_at = len(sink.records)

    def intervals_since() -> list[int]:
        return [i for i, r in enumerate(sink.records[gone_at:]) if isinstance(r, ProbeCounts)]

    assert sink.wait_for(lambda: len(intervals_since()) >= 3)
    # Every interval that began after the interface went away no longer lists it.
    start = gone_at + intervals_since()[1]
    later = [r for r in sink.records[start:] if isinstance(r, XdpRecord)]
    assert later and all(r.ifname != name for r in later)
    assert engine.probes["xdp"].active
