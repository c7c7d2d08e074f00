"""`--replay`, `--demo`, `--record`, `--theme`, `--history` as a user meets them:
no root needed to replay, and every bad input is one line and a non-zero exit."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

import pytest

from bpftop.core.resources import demo_recording
from bpftop.outputs.recording import RecordingWriter, make_header
from tests.helpers.cli import run, world_can_run_from_here
from tests.helpers.recorded import demo_session


def one_line_error(result, code: int, *needles: str) -> None:
    assert result.returncode == code, result
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("bpftop: "), lines
    for needle in needles:
        assert needle in lines[0], lines[0]


def test_demo_ships_the_invented_session() -> None:
    result = run("--demo", "--json")
    assert result.returncode == 0, result.stderr
    assert [json.loads(line) for line in result.stdout.splitlines()] == [
        r.to_json() for r in demo_session()
    ]  # scripts/make_demo.py writes it from tests/helpers/recorded.py
    assert demo_recording().stat().st_mode & 0o044  # anyone may play it


def test_replay_needs_no_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to drop privileges")  # not root already: the run below is it
    if not world_can_run_from_here():
        pytest.skip("checkout not reachable by uid 65534")
    nobody = ("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all")
    result = run("--replay", str(demo_recording()), "--json", prefix=nobody)
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.splitlines()) == len(demo_session())


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (None, "No such file"),
        (b"", "not a bpftop recording"),
        (b"#!/bin/sh\necho hi\n", "not a bpftop recording (not gzip)"),
        (gzip.compress(b'{"a":1}\n'), "no bpftop header"),
        (gzip.compress(b'{"type":"bpftop-recording","format":2}\n'), "format 2"),
    ],
)
@pytest.mark.parametrize("mode", [["--json"], []])
def test_unplayable_files_are_one_line(tmp_path: Path, content, needle: str, mode) -> None:
    path = tmp_path / "rec"
    if content is not None:
        path.write_bytes(content)
    # Without --json the TUI would start: the error comes before it (stdin is no tty
    # here, so a TUI that got further would say "not a terminal" instead).
    one_line_error(run("--replay", str(path), *mode), 2, needle)


def test_damaged_recording_prints_up_to_the_damage(tmp_path: Path) -> None:
    path = tmp_path / "rec.gz"
    writer = RecordingWriter(path, make_header(host="h", kernel="k", lockdown="none",
                                               interval_s=1.0, plans={}))  # fmt: skip
    writer.write_all(demo_session()[:50])
    writer.close()
    path.write_bytes(path.read_bytes()[:-200])
    result = run("--replay", str(path), "--json")
    assert result.returncode == 1
    assert "warning:" in result.stderr and "damaged" in result.stderr
    assert 0 < len(result.stdout.splitlines()) < 50


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--demo", "--record", "x"], "not with --demo: --record (they act on the live box)"),
        (
            ["--replay", "x", "--comm", "sh", "--probes", "exec"],
            "not with --replay: --probes, --comm",
        ),
        (["--demo", "--replay", "x"], "--demo or --replay FILE, not both"),
        (["--theme", "solarized", "--demo"], "unknown theme 'solarized'; themes: dark"),
    ],
)
def test_options_that_cannot_apply_are_one_line(args: list[str], needle: str) -> None:
    one_line_error(run(*args), 2, needle)


@pytest.mark.parametrize("value", ["0", "-3", "abc", "5000"])
def test_bad_history_is_an_argument_error(value: str) -> None:
    result = run("--history", value, "--demo")
    assert result.returncode == 2 and "--history" in result.stderr
    assert "Traceback" not in result.stderr


def test_record_never_overwrites(tmp_path: Path) -> None:
    path = tmp_path / "keep.me"
    path.write_text("the user's file")
    one_line_error(run("--json", "--record", str(path), "--duration", "1"), 2, "already exists")
    assert path.read_text() == "the user's file"
    one_line_error(run("--json", "--record", str(tmp_path / "no" / "x.gz")), 2, "cannot create")


def test_bundle_directory_must_be_new(tmp_path: Path) -> None:
    (tmp_path / "old").mkdir()
    one_line_error(run("--bundle", str(tmp_path / "old")), 2, "already exists")
    one_line_error(run("--bundle", str(tmp_path / "no" / "b")), 2, "is not a directory")


def test_a_broken_theme_file_is_one_line(tmp_path: Path) -> None:
    """themes/ is data a user may edit: each file is checked at start."""
    from bpftop.screens.themes import ThemeError, load_theme

    cases = {
        "bpftop-x.toml": ('name = "other"\ndark = true\nprimary = "#000000"\n', "not the file"),
        "bpftop-y.toml": ('name = "bpftop-y"\ndark = true\nprimary = "blurple"\n', "not a colour"),
        "bpftop-z.toml": ('name = "bpftop-z"\ndark = true\nprimary = "#fff"\nfoo = 1\n', "unknown"),
        "bpftop-w.toml": ("name = \n", "bad theme file"),
    }
    for name, (text, needle) in cases.items():
        (tmp_path / name).write_text(text)
        with pytest.raises(ThemeError, match=needle):
            load_theme(tmp_path / name)
