"""The app's record source, as a test that knows which one it gave the app sees it."""

from __future__ import annotations

from bpftop.app import BpftopApp
from bpftop.engine import BpfEngine
from bpftop.sources import LiveSource, ReplaySource


def replaying(app: BpftopApp) -> ReplaySource:
    assert isinstance(app.source, ReplaySource)
    return app.source


def engine_of(app: BpftopApp) -> BpfEngine:
    """The live app's BPF engine (started)."""
    assert isinstance(app.source, LiveSource)
    engine = app.source.controller
    assert isinstance(engine, BpfEngine)
    return engine
