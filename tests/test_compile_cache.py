"""The compile cache (bpftop/loader/compile_cache.py): a later start loads what an
earlier one compiled, the programs it loads count exactly, and an entry that no
longer loads is compiled again, never a failure."""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from pathlib import Path

import pytest

from bpftop.core.records import ExecRecord, ProbeStatus
from bpftop.loader import compile_cache, compiler

pytestmark = pytest.mark.bpf
N = 30


@pytest.fixture
def cold_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    where = tmp_path / "cache"
    monkeypatch.setenv("BPFTOP_CACHE_DIR", str(where))
    return where


def test_a_second_start_loads_from_the_cache_and_counts_exactly(
    engine_for, cold_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine, _sink = engine_for("exec", "connect", "disk", "denials", "xdp", "cpu")
    engine.stop()
    assert len(list(cold_cache.iterdir())) == 6  # one compile per probe, kept

    def no_compiles(request: compiler.CompileRequest) -> None:
        raise AssertionError(f"compiled {request.source} although it was cached")

    monkeypatch.setattr(compiler, "_spawn", no_compiles)
    engine, sink = engine_for("exec", "connect", "disk", "denials", "xdp", "cpu")
    attached = {s.probe for s in sink.of_type(ProbeStatus) if s.state == "attached"}
    assert attached == {"exec", "connect", "disk", "denials", "xdp", "cpu"}
    token = f"bpftop-test-{uuid.uuid4().hex}"
    for i in range(N):
        subprocess.run(["/bin/true", token, str(i)], check=True)

    def mine() -> list[ExecRecord]:
        return [r for r in sink.of_type(ExecRecord) if token in r.argv]

    assert sink.wait_for(lambda: len(mine()) >= N)
    engine.stop()
    assert sorted(int(r.argv[2]) for r in mine()) == list(range(N))


def test_an_entry_that_no_longer_loads_is_compiled_again(engine_for, cold_cache: Path) -> None:
    engine, _sink = engine_for("exec")
    engine.stop()
    (entry,) = cold_cache.iterdir()
    answer = json.loads(entry.read_text())
    answer["load"]["programs"][0]["insns"] = ""  # no instructions: the kernel refuses
    entry.write_text(json.dumps(answer))
    engine, sink = engine_for("exec")
    statuses = [s for s in sink.of_type(ProbeStatus) if s.probe == "exec"]
    assert statuses[-1].state == "attached" and statuses[-1].reason is None
    engine.stop()
    # compiled, and kept again
    assert json.loads(entry.read_text())["load"]["programs"][0]["insns"]


def test_a_cache_someone_else_could_write_is_not_used(cold_cache: Path) -> None:
    cold_cache.mkdir(mode=0o700)
    assert compile_cache.cache_dir() == cold_cache
    os.chmod(cold_cache, 0o777)
    assert compile_cache.cache_dir() is None
    os.chmod(cold_cache, 0o700)
    os.chown(cold_cache, 65534, 65534)
    assert compile_cache.cache_dir() is None
