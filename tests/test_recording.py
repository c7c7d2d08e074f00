"""Recordings: every record survives the file, the file is private and never
overwrites, and no damaged or foreign file gets further than a one-line error
(or the records before the damage, with a warning). The reader is fuzzed."""

from __future__ import annotations

import gzip
import json
import os
import stat
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bpftop.catalog import new_dashboard
from bpftop.core.record_decode import DecodeError, record_from_json
from bpftop.core.resources import demo_recording
from bpftop.outputs.recording import (
    FORMAT,
    RecordingError,
    RecordingHeader,
    RecordingReader,
    RecordingWriter,
    make_header,
    read_all,
)
from tests.helpers.recorded import demo_session, recorded_drilldown, recorded_session

FUZZ = settings(max_examples=300, deadline=None, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip


def header() -> RecordingHeader:
    return make_header(host="h", kernel="k", lockdown="none", interval_s=1.0, plans={"exec": ["x"]})


def every_kind() -> list[Any]:
    return recorded_session() + recorded_drilldown()


def write(path: Path, records: list[Any]) -> Path:
    writer = RecordingWriter(path, header())
    writer.write_all(records)
    writer.close()
    return path


def test_every_record_type_comes_back_equal(tmp_path: Path) -> None:
    records = every_kind()
    assert {r.to_json()["type"] for r in records} >= {
        "status", "counts", "exec", "connect", "disk", "disk_proc", "denial", "denial_group",
        "xdp", "syscalls", "uprobe", "system",
    }  # fmt: skip
    head, back, damage = read_all(write(tmp_path / "r.gz", records))
    assert damage is None
    assert back == records
    # The typed header comes back as written (its start time is the write's own).
    assert head.started > 0 and replace(head, started=0) == replace(header(), started=0)
    assert head.plans == {"exec": ["x"]} and head.to_json()["format"] == FORMAT


def test_file_is_private_and_never_overwritten(tmp_path: Path) -> None:
    os.umask(0o022)
    path = write(tmp_path / "r.gz", every_kind())
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    before = path.read_bytes()
    with pytest.raises(RecordingError, match="already exists"):
        RecordingWriter(path, header())
    assert path.read_bytes() == before
    link = tmp_path / "link.gz"
    link.symlink_to(tmp_path / "elsewhere")
    with pytest.raises(RecordingError):
        RecordingWriter(link, header())  # not through a symlink either
    assert not (tmp_path / "elsewhere").exists()


def test_what_was_flushed_survives_a_kill(tmp_path: Path) -> None:
    """No close() (SIGKILL): everything up to the last sync flush reads back."""
    path = tmp_path / "r.gz"
    writer = RecordingWriter(path, header())
    records = every_kind()
    writer.write_all(records)
    writer._gz.flush()  # what the once-a-second flush does
    reader = RecordingReader(path)
    assert list(reader) == records
    assert reader.damage is not None and "ends mid-stream" in reader.damage


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "not a bpftop recording"),
        (b"hello, world\n", "not a bpftop recording (not gzip)"),
        (gzip.compress(b""), "no bpftop header"),
        (gzip.compress(b'{"type":"exec"}\n'), "no bpftop header"),
        (gzip.compress(b"\xff\xfe\n"), "no bpftop header"),
        (gzip.compress(b'{"type":"bpftop-recording","format":99}\n'), "format 99"),
        (b"\x1f\x8b\x08\x00garbage", "not a bpftop recording"),
    ],
)
def test_foreign_files_are_one_line_errors(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "f"
    path.write_bytes(content)
    with pytest.raises(RecordingError, match=message.replace("(", r"\(").replace(")", r"\)")):
        RecordingReader(path)


def test_missing_unreadable_and_directory(tmp_path: Path) -> None:
    with pytest.raises(RecordingError, match="No such file"):
        RecordingReader(tmp_path / "nope")
    with pytest.raises(RecordingError, match="is a directory"):
        RecordingReader(tmp_path)


def test_damage_plays_up_to_it(tmp_path: Path) -> None:
    lines = [json.dumps(header().to_json()), *(json.dumps(r.to_json()) for r in every_kind()[:10])]
    lines.insert(6, '{"type":"exec","pid":"not a number"}')
    path = tmp_path / "d.gz"
    path.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    _head, records, damage = read_all(path)
    assert records == every_kind()[:5]
    assert damage is not None and "line 7" in damage and "played the 5 records" in damage
    truncated = tmp_path / "t.gz"
    truncated.write_bytes(write(tmp_path / "w.gz", every_kind()).read_bytes()[:-300])
    _, some, damage = read_all(truncated)
    assert 0 < len(some) < len(every_kind()) and damage


def test_decoder_checks_types() -> None:
    good = every_kind()[3].to_json()
    assert record_from_json(good) == every_kind()[3]
    bad: object
    for bad in ({**good, "pid": True}, {**good, "argv": "x"}, {"type": "nope"}, [], {**good,
                "type": 3}, {k: v for k, v in good.items() if k != "pid"}):  # fmt: skip
        with pytest.raises(DecodeError):
            record_from_json(bad)


def _survives(path: Path) -> None:
    """The only outcomes: RecordingError, or records (and maybe damage) a model takes."""
    try:
        reader = RecordingReader(path)
    except RecordingError as exc:
        assert "\n" not in str(exc)
        return
    dashboard = new_dashboard()
    for record in reader:
        dashboard.apply(record)
    dashboard.snapshot(0.0)
    assert reader.damage is None or "\n" not in reader.damage


@FUZZ
@given(st.binary(max_size=2000))
def test_fuzz_random_bytes(tmp_path_factory, data: bytes) -> None:
    path = tmp_path_factory.mktemp("fuzz") / "f"
    path.write_bytes(data)
    _survives(path)


@FUZZ
@given(cut=st.integers(min_value=0), flips=st.lists(st.tuples(st.integers(0), st.integers(1, 255)),
       max_size=4))  # fmt: skip
def test_fuzz_damaged_real_recording(tmp_path_factory, cut: int, flips: list[Any]) -> None:
    base = tmp_path_factory.mktemp("fuzz")
    data = bytearray(write(base / "r.gz", demo_session()[:300]).read_bytes())
    data = data[: cut % (len(data) + 1)]
    for where, mask in flips:
        if data:
            data[where % len(data)] ^= mask
    (base / "d").write_bytes(bytes(data))
    _survives(base / "d")


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=4),
    max_leaves=12,
)  # fmt: skip


@FUZZ
@given(st.lists(st.sampled_from([r.to_json() for r in every_kind()]), max_size=5),
       st.lists(st.tuples(st.text(max_size=10), JSON), max_size=3))  # fmt: skip
def test_fuzz_records_with_wrong_fields(
    tmp_path_factory, objs: list[Any], changes: list[Any]
) -> None:
    """Real records with fields replaced by arbitrary JSON: decoded or refused, never more."""
    lines = [json.dumps(header().to_json())]
    for obj in objs:
        changed = dict(obj)
        for key, value in changes:
            changed[key if key in changed or not obj else list(obj)[len(key) % len(obj)]] = value
        lines.append(json.dumps(changed))
    path = tmp_path_factory.mktemp("fuzz") / "r.gz"
    path.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    _survives(path)


def test_numbers_no_record_holds_are_refused() -> None:
    good = every_kind()[3].to_json()
    for bad in (2**64, -(2**70), float("nan"), float("inf")):
        with pytest.raises(DecodeError):
            record_from_json({**good, "ts": bad})
    with pytest.raises(DecodeError):
        record_from_json({**good, "pid": 2**80})


def test_under_sudo_the_recording_belongs_to_the_user(tmp_path: Path, monkeypatch) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to give a file away")  # as a user the file is simply theirs
    monkeypatch.setenv("SUDO_UID", "65534")
    monkeypatch.setenv("SUDO_GID", "65534")
    path = write(tmp_path / "mine.gz", every_kind())
    assert (path.stat().st_uid, path.stat().st_gid) == (65534, 65534)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_records_reencode_byte_identical() -> None:
    """The one encoder (records.to_json, from each field's wire() facts) writes every line
    of the shipped demo recording back byte for byte: the wire format did not move."""
    with gzip.open(demo_recording(), "rt") as f:
        lines = f.read().splitlines()[1:]  # the header first
    assert len(lines) > 1000
    for line in lines:
        again = json.dumps(record_from_json(json.loads(line)).to_json(), separators=(",", ":"))
        assert again == line
