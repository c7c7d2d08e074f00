"""Real kernel: the XDP probe reports a foreign XDP program and, from the driver's own
counters, exactly the packets it dropped, without touching it."""

from __future__ import annotations

import signal
import subprocess
import time

import pytest

from bpftop.core.commands import XdpAddRule, XdpAttach
from bpftop.core.records import ProbeCounts, ProbeStatus, XdpRecord
from bpftop.core.xdp_rules import XdpRule, parse_rule
from bpftop.probes.xdp_probe import XdpProbe
from tests.helpers.bpftool import loaded_programs
from tests.helpers.cli import BPFTOP, ROOT
from tests.helpers.netns import (
    BY_PORT,
    compiling_bcc,
    foreign_xdp_drop,
    send_udp,
    veth_pair,
    xdp_prog_id,
)
from tests.helpers.timing import SLOWDOWN

pytestmark = pytest.mark.bpf
PACKETS = 57


def acted(record: XdpRecord, action: str) -> int:
    """Packets of one action in a record (a source that cannot tell: 0)."""
    return (record.actions or {}).get(action) or 0


def test_drops_of_a_foreign_program_from_driver_counters(engine_for) -> None:
    with veth_pair() as pair, foreign_xdp_drop(pair.host_ifindex):
        engine, sink = engine_for("xdp", interval=0.3)
        assert [s.state for s in sink.of_type(ProbeStatus)][-1] == "attached"

        def driver() -> list[XdpRecord]:
            return [r for r in sink.of_type(XdpRecord)
                    if r.ifname == pair.host_if and r.source == "driver"]  # fmt: skip

        assert sink.wait_for(lambda: len(driver()) >= 2)  # a baseline interval went by
        send_udp(pair, PACKETS)
        assert sink.wait_for(lambda: sum(acted(r, "drop") for r in driver()) >= PACKETS)
        engine.stop()
    records = driver()
    assert sum(acted(r, "drop") for r in records) == PACKETS
    assert sum((acted(r, "pass")) + (acted(r, "tx")) for r in records) == 0
    prog = records[-1].prog
    assert prog is not None
    assert (prog["name"], prog["mode"], prog["owner"]) == ("xdp_drop_all", "driver", "foreign")


def test_fexit_counts_every_action_of_a_foreign_program(engine_for, kernel_features) -> None:
    """Where tracing programs load (6.1, 6.12): fexit on the foreign program counts
    each action it returned, exactly. Where they do not (the dev machine's 6.18), the
    step is named as skipped, with why, and nothing claims fexit counts."""
    passed, dropped, aborted = 25, 15, 5
    cannot = kernel_features.prog_type_reason("tracing")
    with veth_pair() as pair, foreign_xdp_drop(pair.host_ifindex, BY_PORT, b"xdp_by_port"):
        engine, sink = engine_for("xdp", interval=0.3)
        status = [s for s in sink.of_type(ProbeStatus) if s.probe == "xdp"][-1]

        def ours(source: str) -> list[XdpRecord]:
            return [r for r in sink.of_type(XdpRecord)
                    if r.ifname == pair.host_if and r.source == source]  # fmt: skip

        assert sink.wait_for(lambda: len(ours("driver" if cannot else "fexit")) >= 2)
        send_udp(pair, passed, port=8888)
        send_udp(pair, dropped, port=9999)
        send_udp(pair, aborted, port=7777)
        # The exception tracepoint counts the aborted ones on every kernel.
        assert sink.wait_for(lambda: sum(acted(r, "aborted") for r in ours("tracepoint")) >= 5)
        if not cannot:
            total = passed + dropped + aborted
            assert sink.wait_for(
                lambda: (
                    sum(sum(v or 0 for v in (r.actions or {}).values()) for r in ours("fexit"))
                    >= total
                )
            )
        engine.stop()
    if cannot:
        assert status.via == XdpProbe.plan[1].via
        assert (XdpProbe.plan[0].via, cannot) in status.skipped
        assert ours("fexit") == []
        return
    assert status.via == XdpProbe.plan[0].via and status.reason is None
    fexit = ours("fexit")
    assert {a: sum(acted(r, a) for r in fexit) for a in ("pass", "drop", "aborted", "tx")} == {
        "pass": passed, "drop": dropped, "aborted": aborted, "tx": 0
    }  # fmt: skip
    assert sum(acted(r, "aborted") for r in ours("tracepoint")) == aborted
    prog = fexit[-1].prog
    assert prog is not None and (prog["name"], prog["owner"]) == ("xdp_by_port", "foreign")


def test_fexit_lets_go_of_a_foreign_program_that_leaves(engine_for, kernel_features) -> None:
    """An fexit program holds its target loaded: once the foreign program leaves its
    interface, bpftop must let go of it, or it would live on in the kernel."""
    if reason := kernel_features.prog_type_reason("tracing"):
        engine, sink = engine_for("xdp", interval=0.2)
        assert engine.probes["xdp"].step is XdpProbe.plan[1], reason
        return
    with veth_pair() as pair:
        engine, sink = engine_for("xdp", interval=0.2)
        probe = engine.probes["xdp"]
        with foreign_xdp_drop(pair.host_ifindex):
            prog_id = xdp_prog_id(pair.host_ifindex)
            assert sink.wait_for(lambda: prog_id in probe._fexits)
        # Gone from the kernel, and bpftop's fexit program with it (per bpftool).
        assert sink.wait_for(lambda: prog_id not in loaded_programs())
        assert "xdp_fexit" not in loaded_programs().values()
        assert probe._fexits == {}


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


def test_own_program_passes_all_but_what_a_rule_drops(engine_for) -> None:
    passed, dropped = 25, 15
    with veth_pair() as pair:
        engine, sink = engine_for("xdp", interval=0.3)
        engine.submit(XdpAttach(pair.host_if))
        engine.submit(XdpAddRule(XdpRule(pair.host_if, parse_rule("udp:9999"))))

        def own() -> list[XdpRecord]:
            return [r for r in sink.of_type(XdpRecord)
                    if r.ifname == pair.host_if and r.source == "bpftop"]  # fmt: skip

        assert sink.wait_for(lambda: len(own()) >= 2)
        send_udp(pair, passed, port=8888)
        send_udp(pair, dropped, port=9999)
        assert sink.wait_for(
            lambda: sum(acted(r, "pass") + acted(r, "drop") for r in own()) >= passed + dropped
        )
        prog = own()[-1].prog
        engine.stop()
        assert xdp_prog_id(pair.host_ifindex) is None  # detached with the probe
    records = own()
    assert sum(acted(r, "pass") for r in records) == passed
    assert sum(acted(r, "drop") for r in records) == dropped
    assert sum((r.protocols or {})["udp"] for r in records) == passed + dropped
    assert sum((r.rules or [])[0]["drops"] for r in records) == dropped
    from_peer = [
        s["packets"] for r in records for s in r.top_sources or [] if s["src"] == pair.peer_ip
    ]
    assert sum(from_peer) == passed + dropped
    assert (records[-1].rules or [])[0]["rule"] == "udp:9999"
    assert prog is not None and (prog["name"], prog["owner"]) == ("bpftop_xdp", "bpftop")


def test_refuses_an_interface_with_a_program_and_leaves_it_alone(kernel_features) -> None:
    with veth_pair() as pair, foreign_xdp_drop(pair.host_ifindex):
        before = xdp_prog_id(pair.host_ifindex)
        run = subprocess.run(
            [*BPFTOP, "--json", "--xdp-attach", pair.host_if, "--duration", "1"],
            capture_output=True, text=True, timeout=60, cwd=ROOT,
        )  # fmt: skip
        assert run.returncode == 2
        assert "already has an XDP program" in run.stderr and "Traceback" not in run.stderr
        assert len(run.stderr.strip().splitlines()) == 1
        assert xdp_prog_id(pair.host_ifindex) == before


def test_sigkill_leaves_no_xdp_program_behind(kernel_features) -> None:
    with veth_pair() as pair:
        proc = subprocess.Popen(
            [*BPFTOP, "--json", "--probes", "xdp", "--xdp-attach", pair.host_if,
             "--xdp-drop", "udp:9999"],
            stdout=subprocess.PIPE, text=True, cwd=ROOT,
        )  # fmt: skip
        try:
            assert proc.stdout is not None
            for line in proc.stdout:  # until the first record from bpftop's own program
                if '"source":"bpftop"' in line:
                    break
            assert xdp_prog_id(pair.host_ifindex) is not None
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        deadline = time.monotonic() + 10
        while xdp_prog_id(pair.host_ifindex) is not None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert xdp_prog_id(pair.host_ifindex) is None


def test_start_sweeps_netlink_leftovers_of_bpftop_and_nothing_else(engine_for) -> None:
    from bpftop.core.resources import bpf_dir

    BPF = compiling_bcc()

    with veth_pair() as mine, veth_pair() as theirs:
        # An older bpftop's program, attached through netlink (it outlives its process)...
        old = BPF(src_file=str(bpf_dir() / "xdp_counter.c").encode(), cflags=[f"-I{bpf_dir()}"])
        BPF.attach_xdp(mine.host_if, old.load_func(b"bpftop_xdp", BPF.XDP), 0)
        # ... and someone else's, attached the same way, which must stay.
        other = BPF(text=b"int not_bpftop(struct xdp_md *ctx) { return XDP_PASS; }")
        BPF.attach_xdp(theirs.host_if, other.load_func(b"not_bpftop", BPF.XDP), 0)
        foreign = xdp_prog_id(theirs.host_ifindex)
        try:
            assert xdp_prog_id(mine.host_ifindex) is not None
            engine, _sink = engine_for("xdp", interval=0.3)
            assert xdp_prog_id(mine.host_ifindex) is None
            assert xdp_prog_id(theirs.host_ifindex) == foreign
            engine.stop()
        finally:
            BPF.remove_xdp(theirs.host_if, 0)
            old.cleanup()
            other.cleanup()


def test_a_refused_attach_is_a_notice_and_the_probe_runs(kernel_features) -> None:
    from bpftop.catalog import PROBE_CLASSES
    from bpftop.engine.bpf_engine import BpfEngine
    from tests.helpers.collector import Collector

    sink = Collector()
    engine = BpfEngine(kernel_features, PROBE_CLASSES, sink, enabled=["xdp"], interval=0.3)
    engine.submit(XdpAttach("bt-no-such0"))  # gone before bpftop started, say
    engine.start()
    try:
        assert engine.ready.wait(30 * SLOWDOWN)
        (status,) = [s for s in sink.of_type(ProbeStatus) if s.state == "attached"]
        assert status.reason == "no interface bt-no-such0"
        assert sink.wait_for(lambda: len(sink.of_type(XdpRecord)) > 0)
    finally:
        engine.stop()
