"""Round trips on the real kernel: record a session with a known workload, replay it,
and the models reach the same counts; the headless bundle is complete and private."""

from __future__ import annotations

import contextlib
import json
import signal
import stat
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from bpftop.catalog import PROBE_CLASSES, PROBE_NAMES, new_dashboard
from bpftop.core.record_decode import record_from_json
from bpftop.engine.bpf_engine import BpfEngine
from bpftop.model.dashboard import Dashboard
from bpftop.model.execs import ExecModel, ExecSnapshot
from bpftop.model.replay import Replay
from bpftop.outputs.recording import RecordingWriter, make_header, read_all
from bpftop.screens.app import BpftopApp
from bpftop.screens.sources import LiveSource
from tests.helpers.apps import wait_state
from tests.helpers.cli import BPFTOP, ROOT, attached, read_until, run, start_json

pytestmark = pytest.mark.bpf
OK, FAILED = 17, 5


def workload(token: str) -> None:
    for _ in range(OK):
        subprocess.run(["/bin/true", token], check=True)
    for _ in range(FAILED):  # ENOENT from execve itself (one execve: an absolute path)
        with contextlib.suppress(FileNotFoundError):
            subprocess.run([f"/nonexistent/{token}"], check=False)


def mine(records, token: str) -> list[Any]:
    return [r for r in records if token in " ".join(r.argv) or token in r.filename]


def replayed(records) -> Dashboard:
    dashboard, replay = new_dashboard(), Replay(records)
    while not replay.finished:
        for r in replay.advance(0.5):
            dashboard.apply(r)
    return dashboard


def test_headless_recording_replays_exactly(kernel_features, tmp_path: Path) -> None:
    path = tmp_path / "session.jsonl.gz"
    proc = start_json("--probes", "exec,connect", "--record", str(path))
    lines = read_until(proc, attached({"exec", "connect"}))
    token = uuid.uuid4().hex
    workload(token)
    ours = lambda ls: sum(1 for r in ls if r["type"] == "exec" and token in json.dumps(r))  # noqa: E731
    lines += read_until(proc, lambda ls: ours(lines + ls) == OK + FAILED)
    lines += read_until(proc, lambda ls: ls[-1]["type"] == "counts", timeout=5)
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=30)
    assert proc.stdout is not None
    lines += [json.loads(line) for line in proc.stdout.read().splitlines()]
    assert proc.returncode == 0

    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    header, records, damage = read_all(path)
    assert damage is None
    assert header.plans["exec"] and header.kernel and header.lockdown
    # The recording is the live stream, record for record ...
    assert [r.to_json() for r in records] == lines
    printed = run("--replay", str(path), "--json")
    assert printed.returncode == 0, printed.stderr
    assert [json.loads(line) for line in printed.stdout.splitlines()] == lines
    # ... so a replay reaches the live model's counts, exactly.
    live = new_dashboard()
    for line in lines:
        live.apply(record_from_json(line))
    end = records[-1].ts
    assert replayed(records).snapshot(end) == live.snapshot(end)
    execs = mine(replayed(records).snapshot(end).view("exec", ExecSnapshot).rows, token)
    assert len(execs) == OK + FAILED
    assert sorted(r.error or "ok" for r in execs) == ["ENOENT"] * FAILED + ["ok"] * OK


async def test_tui_recording_replays_to_the_same_counts(kernel_features, tmp_path: Path) -> None:
    path = tmp_path / "tui.jsonl.gz"
    writer = RecordingWriter(path, make_header(host="h", kernel="k", lockdown="x",
                                               interval_s=0.2, plans={}))  # fmt: skip

    def start(sink, settings):
        engine = BpfEngine(kernel_features, PROBE_CLASSES, sink, enabled=["exec"], interval=0.2)
        for command in settings.commands():
            engine.submit(command)
        engine.start()
        return engine

    app = BpftopApp(PROBE_NAMES, LiveSource(start, recording=True), refresh_seconds=0.2,
                    tap=writer.write)  # fmt: skip
    token = uuid.uuid4().hex
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_state(pilot, app, "exec", "attached")
        workload(token)
        for _ in range(100):
            if (
                len(mine(app.timeline.dashboard.model("exec", ExecModel).snapshot().rows, token))
                == OK + FAILED
            ):
                break
            await pilot.pause(0.05)
        await pilot.pause(0.5)  # the interval's counts
        await pilot.press("q")
        await pilot.pause(0.2)
    writer.close()
    _, records, damage = read_all(path)
    assert damage is None
    live = app.timeline.dashboard.snapshot(0.0)
    again = replayed(records).snapshot(0.0)
    execs, live_execs = again.view("exec", ExecSnapshot), live.view("exec", ExecSnapshot)
    assert execs == live_execs and again.probes == live.probes
    assert len(mine(execs.rows, token)) == OK + FAILED
    assert execs.execs.total == live_execs.execs.total >= OK + FAILED


def test_headless_bundle_is_complete_and_private(kernel_features, tmp_path: Path) -> None:
    bundle = tmp_path / "incident"
    result = run("--bundle", str(bundle), "--duration", "2", "--probes", "exec")
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in bundle.iterdir()) == [
        "recording.jsonl.gz", "report.txt", "screen.svg"]  # fmt: skip
    assert stat.S_IMODE(bundle.stat().st_mode) == 0o700
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in bundle.iterdir())
    _header, records, damage = read_all(bundle / "recording.jsonl.gz")
    assert damage is None and records
    report = (bundle / "report.txt").read_text()
    release = Path("/proc/sys/kernel/osrelease").read_text().strip()
    assert f"kernel    {release}, lockdown {kernel_features.lockdown or 'none'}" in report
    assert "exec      attached via tracepoint:" in report
    assert "<svg" in (bundle / "screen.svg").read_text()
    again = run("--bundle", str(bundle), "--duration", "1")
    assert again.returncode == 2 and "already exists" in again.stderr


def test_headless_bundles_screen_shows_the_panes_and_their_rows(tmp_path: Path) -> None:
    """The headless bundle's screen.svg is the dashboard at the end, titles and rows as
    the TUI draws them (it once held the bare column headers: drawn before the panes
    were mounted)."""
    helper = tmp_path / "bundlemark"
    helper.write_bytes(Path("/bin/true").read_bytes())
    helper.chmod(0o755)
    bundle = tmp_path / "incident"
    proc = subprocess.Popen([*BPFTOP, "--bundle", str(bundle), "--duration", "4", "--probes",
                             "exec,cpu", "--comm", "bundlemark"], cwd=ROOT,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        time.sleep(2.5)  # attached, inside the 4 s
        for _ in range(5):
            subprocess.run([str(helper)], check=True)
        _, stderr = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, stderr
    svg = (bundle / "screen.svg").read_text().replace("&#160;", " ")
    assert "Execs [1]" in svg and "CPU [0]" in svg  # the pane titles
    assert svg.count("> bundlemark </text>") == 5  # its rows: each exec, its COMM cell


def test_sigkilled_recording_plays_up_to_the_last_flush(kernel_features, tmp_path: Path) -> None:
    path = tmp_path / "killed.jsonl.gz"
    proc = start_json("--probes", "exec", "--record", str(path))
    lines = read_until(proc, attached({"exec"}))
    token = uuid.uuid4().hex
    workload(token)
    lines += read_until(proc, lambda ls: sum(1 for r in ls if r["type"] == "counts") >= 3)
    proc.kill()
    proc.wait(timeout=10)
    printed = run("--replay", str(path), "--json")
    assert printed.returncode == 1 and "is damaged" in printed.stderr, printed.stderr
    assert "Traceback" not in printed.stderr
    played = [json.loads(line) for line in printed.stdout.splitlines()]
    assert played == lines[: len(played)]  # what it has is exactly what was streamed
    assert sum(1 for r in played if r["type"] == "exec" and token in json.dumps(r)) == OK + FAILED
