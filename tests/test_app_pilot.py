"""The TUI on the real kernel: keys really detach and re-attach, quitting detaches all."""

from __future__ import annotations

import asyncio
import concurrent.futures
import subprocess

import pytest

from bpftop.catalog import PROBE_CLASSES, PROBE_NAMES
from bpftop.core.records import EXEC_FAILURES_OFF
from bpftop.engine.bpf_engine import BpfEngine
from bpftop.loader.libbpf import tracing_programs_reattach
from bpftop.loader.stats import BpfStats
from bpftop.model.drilldown import DrilldownModel
from bpftop.model.execs import ExecModel
from bpftop.model.xdp import XdpModel
from bpftop.panes.execs import ExecPane
from bpftop.panes.xdp import XdpPane
from bpftop.probes.denial_probe import LSM_HOOK_SETS
from bpftop.probes.disk_probe import DiskProbe
from bpftop.probes.exec_probe import FEXIT_STEP, SHARED_VIA, SYS_EXIT_STEP
from bpftop.probes.uprobe_probe import UprobeProbe
from bpftop.screens.app import BpftopApp
from bpftop.screens.drilldown import DrilldownScreen
from bpftop.screens.sources import LiveSource
from tests.helpers.apps import engine_of, kernel_filter_comm, wait_probe, wait_state
from tests.helpers.bpftool import (
    attached_names,
    attached_program_ids,
    bpftop_program_ids,
    loaded_programs,
    wait_until_gone,
)
from tests.helpers.timing import wait_until_async

pytestmark = pytest.mark.bpf


def make_app(kernel_features) -> BpftopApp:
    def start(sink, settings):
        engine = BpfEngine(kernel_features, PROBE_CLASSES, sink, enabled=PROBE_NAMES)
        for command in settings.commands():
            engine.submit(command)
        engine.start()
        return engine

    return BpftopApp(PROBE_NAMES, LiveSource(start), refresh_seconds=0.2)


def program_ids(app: BpftopApp, probe: str) -> set[int]:
    engine = engine_of(app)
    stats = BpfStats()
    return {stats.prog_info(fd)[0] for fd in engine.probes[probe].prog_fds()}


def drilldown_screen(app: BpftopApp) -> DrilldownScreen:
    assert isinstance(app.screen, DrilldownScreen)
    return app.screen


def drilldown_model(app: BpftopApp) -> DrilldownModel:
    model = app.timeline.dashboard.drilldown
    assert model is not None
    return model


async def test_toggle_detaches_and_reattaches_then_quit_detaches_all(kernel_features) -> None:
    app = make_app(kernel_features)
    async with app.run_test(size=(120, 40)) as pilot:
        for name in PROBE_NAMES:
            await wait_state(pilot, app, name, "attached")
        exec_ids = program_ids(app, "exec")
        connect_ids = program_ids(app, "connect")
        assert len(connect_ids) == 3
        # Where failed execs come from the denials probe's sys_exit (this box), exec.c's
        # syscall tracepoints are loaded but detached, and the shared object's fork
        # hook is exec's too.
        shared = app.timeline.dashboard.probes["exec"].via == SHARED_VIA
        attached = attached_names(engine_of(app), "exec")
        assert "tracepoint__sched__sched_process_exec" in attached
        assert len(attached) == (3 if shared else 4)
        assert (exec_ids | connect_ids) <= set(loaded_programs())

        await pilot.press("1")
        await wait_state(pilot, app, "exec", "detached")
        # Detached everywhere; exec.c's own programs unloaded too (the shared sys_exit
        # object keeps its sched_process_fork program loaded, detached, for denials).
        assert exec_ids & attached_program_ids() == set()
        assert len(wait_until_gone(exec_ids)) == (1 if shared else 0)
        assert connect_ids <= set(loaded_programs())  # the other pane keeps working
        assert "off" in str(app.query_one("#pane-exec").border_subtitle)

        await pilot.press("1")
        await wait_state(pilot, app, "exec", "attached")
        new_exec_ids = program_ids(app, "exec")
        assert new_exec_ids <= set(loaded_programs())
        assert attached_names(engine_of(app), "exec") == attached
        subprocess.run(["/bin/true", "after-reattach"], check=True)
        for _ in range(100):
            rows = app.timeline.dashboard.model("exec", ExecModel).snapshot().rows
            if any("after-reattach" in r.argv for r in rows):
                break
            await pilot.pause(0.05)
        else:
            raise AssertionError("no exec seen after re-attaching")

        await pilot.press("q")
        await pilot.pause(0.2)
    assert wait_until_gone(new_exec_ids | connect_ids) == set()


async def wait_via(pilot, app: BpftopApp, probe: str, text: str) -> str:
    await wait_probe(pilot, app, probe, lambda p: text in (p.via or ""), f"attached via {text!r}")
    return app.timeline.dashboard.probes[probe].via or ""


async def test_f_turns_failed_exec_capture_off_and_back_on(kernel_features) -> None:
    app = make_app(kernel_features)
    async with app.run_test(size=(120, 40)) as pilot:
        for name in PROBE_NAMES:
            await wait_state(pilot, app, name, "attached")
        via_on = app.timeline.dashboard.probes["exec"].via
        pane = app.query_one("#pane-exec")
        await pilot.pause(0.5)  # a refresh
        # Where failed execs cost every syscall (a sys_exit hook), the subtitle names F first.
        costly = via_on in (SHARED_VIA, SYS_EXIT_STEP.via)
        assert str(pane.border_subtitle).startswith("F: failures off · via") == costly, via_on
        await pilot.press("F")
        if via_on == FEXIT_STEP.via and not tracing_programs_reattach():
            # 5.10: a detached fexit program cannot be attached again; F says so instead
            stay_on = "failed execs stay on: this kernel cannot attach fexit again"
            await wait_probe(pilot, app, "exec", lambda p: p.reason == stay_on, "said so")
            await pilot.pause(0.5)
            assert "failed execs stay on" in str(app.query_one("#pane-exec").border_subtitle)
            names = attached_names(engine_of(app), "exec")
            assert len(names) == 4, names  # sched_process_exec, _fork and both fexit
            return
        await wait_via(pilot, app, "exec", "failed execs off")
        await pilot.pause(0.5)  # a refresh
        assert "failed off (F)" in str(pane.border_title)
        assert "failed execs off" in str(pane.border_subtitle)
        assert app.timeline.dashboard.probes["exec"].code == EXEC_FAILURES_OFF
        assert attached_names(engine_of(app), "exec") == [
            "tracepoint__sched__sched_process_exec", "tracepoint__sched__sched_process_fork"
        ]  # fmt: skip
        await pilot.press("F")
        assert await wait_via(pilot, app, "exec", "for failures") == via_on
        await pilot.pause(0.5)
        assert "failed off" not in str(pane.border_title)


async def test_pause_freezes_display_but_counting_goes_on(kernel_features) -> None:
    app = make_app(kernel_features)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_state(pilot, app, "exec", "attached")
        await pilot.press("p")
        shown_before = app.query_one("#pane-exec", ExecPane).table.row_count
        for i in range(5):
            subprocess.run(["/bin/true", f"paused-{i}"], check=True)
        await pilot.pause(1.0)
        assert app.query_one("#pane-exec", ExecPane).table.row_count == shown_before
        rows = app.timeline.dashboard.model("exec", ExecModel).snapshot().rows
        assert sum(1 for r in rows if r.argv[-1].startswith("paused-")) == 5
        assert "PAUSED" in str(app.query_one("#header").render())
        await pilot.press("p")
        await pilot.pause(0.5)
        assert app.query_one("#pane-exec", ExecPane).table.row_count > shown_before


async def test_disk_key_detaches_and_slow_key_reaches_the_kernel(kernel_features) -> None:
    app = make_app(kernel_features)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_state(pilot, app, "disk", "attached")
        engine = engine_of(app)
        probe = engine.probes["disk"]
        assert isinstance(probe, DiskProbe)

        await pilot.press("t", "t")  # off -> 1 ms -> 10 ms
        await wait_for(pilot, lambda: probe.active and probe.read_config(0) == 10_000_000,
                       "the 10 ms threshold in the BPF map")  # fmt: skip
        assert "slow ≥ 10ms" in str(app.query_one("#pane-disk").border_title)

        disk_ids = program_ids(app, "disk")
        assert len(disk_ids) == 5 and disk_ids <= set(loaded_programs())
        await pilot.press("3")
        await wait_state(pilot, app, "disk", "detached")
        assert wait_until_gone(disk_ids) == set()

        await pilot.press("3")  # back on: the threshold survives the re-attach
        await wait_state(pilot, app, "disk", "attached")
        assert probe.read_config(0) == 10_000_000


# Programs each step loads: sys_exit, the capability hook (a kprobe is two programs) and
# an fexit program per LSM hook of the step (both, or the one a kernel has: 5.10).
DENIAL_BASES = {
    "raw_tracepoint:sys_exit + tracepoint:capability:cap_capable": 2,
    "raw_tracepoint:sys_exit + kprobe:cap_capable": 3,
}
PROGRAMS_BY_STEP = {
    **DENIAL_BASES,
    **{
        f"{base} + {hooks_via}": programs + len(hooks)
        for base, programs in DENIAL_BASES.items()
        for hooks, hooks_via, _leave_out in LSM_HOOK_SETS
    },
    "netlink + ethtool stats + tracepoint:xdp:xdp_exception": 2,
    # + fexit programs, but only on foreign XDP programs (none in this test)
    "netlink + ethtool stats + tracepoint:xdp:xdp_exception + fexit on foreign XDP programs": 2,
}


@pytest.mark.parametrize(("probe", "key"), [("denials", "4"), ("xdp", "5")])
async def test_probe_key_detaches_its_programs(kernel_features, probe, key) -> None:
    app = make_app(kernel_features)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_state(pilot, app, probe, "attached")
        programs = PROGRAMS_BY_STEP[app.timeline.dashboard.probes[probe].via or ""]
        ids = program_ids(app, probe)
        assert len(ids) == programs and ids <= set(loaded_programs())
        # The exec probe may take its failed execs from the denials probe's sys_exit
        # program (shared_sys_exit.py); it moves back to its own hooks as denials go.
        await pilot.press(key)
        await wait_state(pilot, app, probe, "detached")
        assert wait_until_gone(ids) == set()


async def test_xdp_keys_attach_count_drop_and_detach(kernel_features) -> None:
    from tests.helpers.netns import send_udp, veth_pair

    # pyroute2's IPRoute runs its own asyncio loop: off the app's loop, in threads.
    setup = veth_pair()
    pair = await asyncio.to_thread(setup.__enter__)
    try:
        app = make_app(kernel_features)
        async with app.run_test(size=(160, 48)) as pilot:
            await wait_state(pilot, app, "xdp", "attached")
            pane = app.query_one("#pane-xdp", XdpPane)

            def names() -> list[str]:
                app.render_snapshot()
                return [str(pane.table.get_row_at(i)[0]) for i in range(pane.table.row_count)]

            await wait_for(pilot, lambda: pair.host_if in names(), "the veth in the pane")
            pane.table.focus()
            pane.table.move_cursor(row=names().index(pair.host_if))
            assert pane.selected_interface() == pair.host_if

            await pilot.press("a")
            await wait_for(pilot, lambda: prog_id(pair.host_ifindex) is not None, "ours on")
            # `d` acts once the pane has seen the program is ours.
            await wait_for(
                pilot, lambda: xdp_model(app).own_attached(pair.host_if), "the pane to see it"
            )

            await pilot.press("d", *"udp:0", "enter")  # a bad rule: the prompt stays
            assert "bad port" in str(app.screen.query_one("#prompt-error").render())
            await pilot.press("ctrl+a", "ctrl+k", *"udp:9999", "enter")
            await pilot.pause(0.5)
            await asyncio.to_thread(send_udp, pair, 12, 9999)
            await wait_for(pilot, lambda: any(
                v.last.ifname == pair.host_if and v.rules and v.rules[0][1] > 0
                for v in xdp_model(app).snapshot().ifaces), "a drop the rule counted")  # fmt: skip

            await pilot.press("D")  # the rules go, the program stays and counts
            await pilot.pause(0.3)
            await asyncio.to_thread(send_udp, pair, 7, 9999)

            def own_rates() -> dict[str, float | None]:
                views = [v for v in xdp_model(app).snapshot().ifaces
                         if v.last.ifname == pair.host_if]  # fmt: skip
                return views[0].rates.get("bpftop", {}) if views else {}

            await wait_for(  # udp:9999 now passes
                pilot, lambda: (own_rates().get("pass") or 0) > 0 and own_rates().get("drop") == 0,
                "the rules cleared")  # fmt: skip

            await pilot.press("a")  # ours now: the same key detaches it
            await wait_for(pilot, lambda: prog_id(pair.host_ifindex) is None, "ours off")
    finally:
        await asyncio.to_thread(setup.__exit__, None, None, None)


def prog_id(ifindex: int) -> int | None:
    """xdp_prog_id off the event loop (pyroute2 runs an asyncio loop of its own)."""
    from tests.helpers.netns import xdp_prog_id

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        found: int | None = pool.submit(xdp_prog_id, ifindex).result()
    return found


def xdp_model(app: BpftopApp) -> XdpModel:
    return app.timeline.dashboard.model("xdp", XdpModel)


async def wait_for(pilot, predicate, what: str) -> None:
    assert await wait_until_async(predicate, pilot.pause), f"gave up waiting for {what}"


def drill_state(app: BpftopApp, probe: str) -> str | None:
    drill = app.timeline.dashboard.drilldown
    state = drill.snapshot().probes.get(probe) if drill else None
    return state.state if state else None


async def test_drilldown_picks_a_process_counts_its_function_and_detaches_on_leave(
    kernel_features, tmp_path
) -> None:
    from tests.helpers.callee import callee_binary, callees

    with callee_binary(tmp_path) as binary, callees(binary) as (target,):
        app = make_app(kernel_features)
        async with app.run_test(size=(120, 40)) as pilot:
            for name in PROBE_NAMES:
                await wait_state(pilot, app, name, "attached")
            before = set(loaded_programs())
            await pilot.press("P")  # the process list
            await pilot.pause(0.3)
            await pilot.press(*str(target.pid), "enter")
            await wait_for(pilot, lambda: isinstance(app.screen, DrilldownScreen), "drilldown")
            assert drilldown_screen(app).pid == target.pid
            await wait_for(pilot, lambda: drill_state(app, "uprobes") == "attached", "uprobes")
            await wait_for(pilot, lambda: drill_state(app, "syscalls") == "attached", "syscalls")

            await pilot.press("u")  # the function list, searched
            await wait_for(pilot, lambda: type(app.screen).__name__ == "PickerScreen", "picker")
            await pilot.press(*"bpftop_work", "enter")
            uprobes = engine_of(app).probes["uprobes"]
            assert isinstance(uprobes, UprobeProbe)
            await wait_for(pilot, lambda: uprobes.attached, "the uprobe")
            # bpftop's own programs among those loaded since: not whatever else the box
            # loaded meanwhile, which this test has no business waiting for.
            ours = (set(loaded_programs()) - before) & bpftop_program_ids()
            assert {loaded_programs()[i] for i in ours} >= {"enter_0", "leave_0", "sys_enter"}

            await asyncio.to_thread(target.call, 321)
            functions = lambda: drilldown_model(app).snapshot().functions  # noqa: E731
            await wait_for(pilot, lambda: functions() and functions()[0].calls >= 321, "calls")
            await pilot.pause(0.5)
            assert [(f.symbol, f.calls) for f in functions()] == [("bpftop_work", 321)]
            syscalls = {s.syscall: s.calls for s in drilldown_model(app).snapshot().syscalls}
            assert syscalls["getppid"] == 321

            await pilot.press("escape")  # leaving detaches everything it attached
            await wait_for(pilot, lambda: not isinstance(app.screen, DrilldownScreen), "back")
            assert wait_until_gone(ours) == set()
            assert app.timeline.dashboard.drilldown is None
            await pilot.press("q")


async def test_drilldown_shows_an_exited_process_and_a_missing_pid(
    kernel_features, tmp_path
) -> None:
    from tests.helpers.callee import callee_binary, callees

    with callee_binary(tmp_path) as binary, callees(binary) as (target,):
        app = make_app(kernel_features)
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_state(pilot, app, "exec", "attached")
            app.open_drilldown(4_194_000)  # no such pid: a message, no screen
            await pilot.pause(0.1)
            assert not isinstance(app.screen, DrilldownScreen)
            assert any("no process with pid" in n.message for n in app._notifications)

            app.open_drilldown(target.pid)
            await wait_for(pilot, lambda: drill_state(app, "syscalls") == "attached", "attach")
            syscall_ids = program_ids(app, "syscalls")
            assert len(syscall_ids) == 2  # sys_enter + sys_exit
            await asyncio.to_thread(target.call, 5)
            await asyncio.to_thread(target.stop)
            await wait_for(pilot, lambda: drilldown_screen(app).exited, "exited")
            await wait_for(pilot, lambda: drill_state(app, "syscalls") == "detached", "detach")
            await pilot.pause(0.3)
            assert app.is_running and isinstance(app.screen, DrilldownScreen)
            assert "EXITED" in str(app.screen.query_one("#dd-info").render())
            assert drilldown_model(app).snapshot().syscalls  # its last data stays
            assert wait_until_gone(syscall_ids) == set()  # the exit detached it
            await pilot.press("escape", "q")


async def test_filter_bar_reaches_the_kernel_and_rejects_bad_input(kernel_features) -> None:
    app = make_app(kernel_features)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_state(pilot, app, "exec", "attached")
        await pilot.press("slash", *"pid=abc", "enter")
        await pilot.pause(0.1)
        error = app.screen.query_one("#prompt-error")
        assert "pid must be a number" in str(error.render())  # the bar stays open
        await pilot.press("ctrl+a", "ctrl+k", *"comm=tru*", "enter")
        await pilot.pause(0.2)
        assert app.timeline.dashboard.filter.comm == "tru*"
        header = str(app.query_one("#header").render())
        assert "FILTER comm=tru*" in header
        # Live: the filter reached the kernel, where the programs test comm's literal head.
        engine = engine_of(app)
        await wait_for(pilot, lambda: kernel_filter_comm(engine, "exec") == b"tru", "the map")
        for _ in range(5):
            await asyncio.to_thread(subprocess.run, ["/bin/echo", "-n"], check=True)
        await asyncio.to_thread(subprocess.run, ["/bin/true", "filtered-in"], check=True)
        await wait_for(
            pilot,
            lambda: any(
                "filtered-in" in r.argv
                for r in app.timeline.dashboard.model("exec", ExecModel).snapshot().rows
            ),
            "the true exec",
        )
        assert {
            r.comm for r in app.timeline.dashboard.model("exec", ExecModel).snapshot().rows
        } == {"true"}
        await pilot.press("q")
