"""Apps the tests drive: the recorded session (live, from a stand-in engine) and the
demo (a replay); and the app's record source, as a test that knows which one it
gave the app sees it."""

from __future__ import annotations

import ctypes
import dataclasses
from typing import Any

from bpftop.catalog import PROBE_NAMES
from bpftop.core.records import Record
from bpftop.core.resources import demo_recording
from bpftop.engine.bpf_engine import BpfEngine
from bpftop.model.replay import Replay
from bpftop.outputs.recording import RecordingReader
from bpftop.screens.app import BpftopApp
from bpftop.screens.sources import LiveSource, ReplaySource
from tests.helpers.recorded import T0, RecordedSource, recorded_session
from tests.helpers.timing import SLOWDOWN, wait_until_async


def replaying(app: BpftopApp) -> ReplaySource:
    assert isinstance(app.source, ReplaySource)
    return app.source


def engine_of(app: BpftopApp) -> BpfEngine:
    """The live app's BPF engine (started)."""
    assert isinstance(app.source, LiveSource)
    engine = app.source.controller
    assert isinstance(engine, BpfEngine)
    return engine


def kernel_filter_comm(engine: BpfEngine, probe: str) -> bytes:
    """The comm head the probe's programs test in the kernel: what its `filter` map holds
    (bpf/bpftop.h struct task_filter), read from the kernel."""
    leaf = engine.probes[probe]._bpf[b"filter"][ctypes.c_int(0)]
    return bytes(leaf.comm[: leaf.comm_len])


def recorded_live(records: list[Record] | None = None, **kwargs: Any) -> LiveSource:
    """A live source whose stand-in engine plays `records` (the recorded session)."""
    session = recorded_session() if records is None else records
    return LiveSource(lambda sink, _settings: RecordedSource(sink, session), **kwargs)


def recorded_app(theme: str | None = None) -> BpftopApp:
    return BpftopApp(
        PROBE_NAMES,
        LiveSource(
            lambda sink, _settings: RecordedSource(sink, recorded_session()), clock=lambda: T0 + 10
        ),
        refresh_seconds=60,  # one render from the recording; no timer ticks in the frame
        theme=theme,
    )


def demo_app() -> BpftopApp:
    """`bpftop --demo`, paused at its start (the tests seek)."""
    reader = RecordingReader(demo_recording())
    replay = Replay(list(reader))
    replay.playing = False
    about = dataclasses.replace(reader.header, replayed_from="the demo")
    return BpftopApp(PROBE_NAMES, ReplaySource(replay, about), refresh_seconds=60)


async def wait_probe(pilot, app: BpftopApp, probe: str, ok, what: str) -> None:
    """Until `ok(state)` holds for the probe's state."""
    # Generous: under emulation (the kernel matrix's VMs) attaching every probe takes ~40 s,
    # and more when the host is busy.
    # 120 s here, 240 s in the VMs (wait_until_async stretches the timeout by SLOWDOWN).
    came = await wait_until_async(lambda: ok(app.timeline.dashboard.probes[probe]),
                                  pilot.pause, max(120.0 / SLOWDOWN, 40.0))  # fmt: skip
    assert came, f"{probe} never {what}: {app.timeline.dashboard.probes[probe]}"


async def wait_state(pilot, app: BpftopApp, probe: str, state: str) -> None:
    await wait_probe(pilot, app, probe, lambda p: p.state == state, f"became {state}")
