"""The rewind ring and the replay clock: pure models, exact at every step."""

from __future__ import annotations

from bpftop.catalog import new_dashboard
from bpftop.core.records import ExecRecord, ProbeCounts, ProbeStatus
from bpftop.model.execs import ExecSnapshot
from bpftop.model.history import ROWS_KEPT, History
from bpftop.model.replay import SPEEDS, Replay
from bpftop.model.timeline import parse_moment, worst_disk_p99
from tests.helpers.recorded import DEMO_SECONDS, demo_session


def exec_at(ts: float, n: int) -> ExecRecord:
    return ExecRecord(ts, n, 1, 0, "true", ("/bin/true", str(n)), 0, "/bin/true")


def test_every_frame_is_exactly_the_snapshot_of_its_step() -> None:
    dashboard, history, taken = new_dashboard(), History(minutes=1.0), {}
    for step in range(200):
        for n in range(step % 7):
            record = exec_at(step + n / 10, step * 10 + n)
            dashboard.apply(record)
            history.add_record(record)
        snap = dashboard.snapshot(float(step))
        frame = history.add_frame(snap)
        taken[frame.seq] = snap.trimmed(ROWS_KEPT)
        # Every frame still held equals what was shown at its step, to the row.
        for f in (history.oldest, history.step(frame.seq, -30), frame):
            assert f is not None and f.snapshot == taken[f.seq]
        assert len(history) == min(step + 1, 61)  # 60 s window, frames 1 s apart
        assert history.oldest is not None and history.oldest.ts >= step - 60


def test_event_budget_gives_up_the_oldest_events_not_frames_nor_aggregates() -> None:
    history = History(minutes=10.0, max_events=100)
    dashboard = new_dashboard()
    for step in range(30):
        for n in range(10):
            history.add_record(exec_at(step, n))
        history.add_record(ProbeCounts(float(step), "exec", 1.0, {"ok": 10}, lost=1))
        history.add_frame(dashboard.snapshot(float(step)))
        assert history.kept_events <= 100
    assert len(history) == 30
    kept = list(history.records())
    events = [r for r in kept if isinstance(r, ExecRecord)]
    assert len(events) == 100 == history.kept_events
    assert [r.ts for r in kept] == sorted(r.ts for r in kept) and events[0].ts == 20
    assert history.events_since() == 19.0  # the newest frame that gave its events up
    # The counts of every interval stay, so a bundle's lost and rates cover the window.
    counts = [r for r in kept if isinstance(r, ProbeCounts)]
    assert [c.ts for c in counts] == [float(step) for step in range(30)]


def test_rows_kept_per_frame_are_the_newest() -> None:
    dashboard = new_dashboard()
    for n in range(400):
        dashboard.apply(exec_at(n, n))
    frame = History().add_frame(dashboard.snapshot(400.0))
    rows = frame.snapshot.view("exec", ExecSnapshot).rows
    assert len(rows) == ROWS_KEPT and rows[-1].pid == 399 and rows[0].pid == 400 - ROWS_KEPT


def test_step_at_time_and_spikes() -> None:
    history = History()
    dashboard = new_dashboard()
    for step in range(10):
        history.add_frame(dashboard.snapshot(100.0 + step))
    newest = history.newest
    assert newest is not None
    assert history.step(newest.seq, 1) is newest  # held at the ends
    assert history.step(newest.seq, -100) is history.oldest
    assert history.step(newest.seq, -3).ts == 106.0  # type: ignore[union-attr]
    assert history.at_time(104.5).ts == 104.0  # type: ignore[union-attr]
    assert history.at_time(50.0) is history.oldest
    values = {100.0: 1, 103.0: 9, 104.0: 2, 107.0: 5, 108.0: 5}
    peaks = history.spikes(lambda s: values.get(s.ts, 0))
    assert [f.ts for f in peaks] == [103.0, 107.0, 100.0]


def test_spikes_of_the_demo_find_the_nvme_spike() -> None:
    dashboard, history = new_dashboard(), History()
    records = demo_session()
    start = records[0].ts
    for second in range(1, DEMO_SECONDS + 1):
        for r in records:
            if start + second - 1 < r.ts <= start + second or (second == 1 and r.ts == start):
                dashboard.apply(r)
        history.add_frame(dashboard.snapshot(start + second))
    top = history.spikes(worst_disk_p99)[0]
    assert 80 <= top.ts - start <= 87  # the invented spike is at 1:20-1:26


def test_parse_moment() -> None:
    newest = 1_795_000_000.0  # 11:06:40 UTC (conftest sets TZ=UTC)
    assert parse_moment("-90s", newest) == newest - 90
    assert parse_moment(" -2m ", newest) == newest - 120
    assert parse_moment("-1h", newest) == newest - 3600
    assert parse_moment("11:05", newest) == newest - 100
    assert parse_moment("11:06:00", newest) == newest - 40
    for bad in ("", "yesterday", "25:00", "-5d", "8:61"):
        try:
            parse_moment(bad, newest)
        except ValueError as exc:
            assert "HH:MM:SS" in str(exc)
        else:
            raise AssertionError(bad)


def test_replay_plays_in_order_at_speed_and_seeks() -> None:
    records = [ProbeStatus(10.0, "exec", "attached")] + [exec_at(10.0 + i, i) for i in range(1, 21)]
    replay = Replay(records)
    assert (replay.start, replay.end) == (10.0, 30.0)
    assert replay.advance(0.0) == records[:1]
    assert replay.advance(2.5) == records[1:3]  # 12.5: execs at 11 and 12
    replay.faster(1)
    assert replay.speed == 2.0
    assert replay.advance(1.0) == records[3:5]  # 14.5
    replay.playing = False
    assert replay.advance(5.0) == [] and replay.position == 14.5
    restart, due = replay.seek(12.0)
    assert restart and due == records[:3]
    restart, due = replay.seek(99.0)  # held at the end; the rest all comes
    assert not restart and due == records[3:] and replay.finished
    assert replay.faster(100) == SPEEDS[-1] and replay.faster(-100) == SPEEDS[0]


def test_replayed_model_reaches_the_live_counts() -> None:
    """Records in recorded order into a fresh model: the same snapshot as live."""
    records = demo_session()
    live = new_dashboard()
    for r in records:
        live.apply(r)
    replay = Replay(records)
    replayed = new_dashboard()
    while not replay.finished:
        for r in replay.advance(7.3):
            replayed.apply(r)
    assert replayed.snapshot(replay.end) == live.snapshot(replay.end)
    counts = [r for r in records if isinstance(r, ProbeCounts) and r.probe == "exec"]
    assert replayed.snapshot(0).view("exec", ExecSnapshot).execs.total == sum(
        c.counts["ok"] + c.counts["failed"] for c in counts
    )


def test_aggregates_are_bounded_too_and_go_oldest_first() -> None:
    history = History(minutes=10.0, max_events=1000, max_aggregates=50)
    dashboard = new_dashboard()
    for step in range(30):
        for n in range(3):
            history.add_record(ProbeCounts(step + n / 10, "exec", 1.0, {"ok": 1}))
        history.add_frame(dashboard.snapshot(float(step)))
    kept = list(history.records())
    assert 48 <= len(kept) <= 50  # whole frames go: 16 of them, 3 records each
    assert [r.ts for r in kept] == sorted(r.ts for r in kept) and kept[-1].ts == 29.2
    assert len(history) == 30  # the frames (their snapshots) all stay
