"""`make install`: `sudo bpftop` from sudo's secure_path, the systemd unit, and never
touching a file that bpftop did not write."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LAUNCHER = Path("/usr/local/bin/bpftop")
UNIT = Path("/etc/systemd/system/bpftop.service")
SUDO_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@pytest.fixture
def as_before() -> Iterator[None]:
    """The launcher and unit go back to what they were before the test (or away)."""
    if os.geteuid() != 0:
        pytest.skip("make install writes /usr/local/bin and /etc/systemd/system: needs root")
    saved = {path: path.read_bytes() if path.exists() else None for path in (LAUNCHER, UNIT)}
    yield
    for path, content in saved.items():
        if content is None:
            path.unlink(missing_ok=True)
        else:
            path.write_bytes(content)


def install(verb: str = "install", **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "scripts/install.sh", verb],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **env},
    )


def test_make_install_puts_bpftop_on_sudos_path_and_uninstall_removes_it(as_before) -> None:
    made = subprocess.run(["make", "install"], cwd=ROOT, capture_output=True, text=True,
                          timeout=600)  # fmt: skip
    assert made.returncode == 0, made.stderr
    version = subprocess.run(["bpftop", "--version"], env={"PATH": SUDO_PATH},
                             capture_output=True, text=True, timeout=60)  # fmt: skip
    assert version.returncode == 0, version.stderr
    assert version.stdout.startswith("bpftop ")
    again = install()  # idempotent
    assert again.returncode == 0, again.stderr
    removed = install("uninstall")
    assert removed.returncode == 0, removed.stderr
    assert not LAUNCHER.exists() and not UNIT.exists()


def test_the_installed_unit_passes_systemd_analyze_verify(as_before, tmp_path: Path) -> None:
    assert install().returncode == 0
    verify = subprocess.run(["systemd-analyze", "verify", str(UNIT)], capture_output=True,
                            text=True, timeout=60)  # fmt: skip
    # verify exits 0 on some mistakes and only prints them: silence is the pass.
    assert (verify.returncode, verify.stdout + verify.stderr) == (0, "")
    broken = tmp_path / "bpftop.service"
    broken.write_text(UNIT.read_text().replace("Restart=on-failure", "Restart=sometimes"))
    complaint = subprocess.run(["systemd-analyze", "verify", str(broken)], capture_output=True,
                               text=True, timeout=60)  # fmt: skip
    assert "restart specifier" in complaint.stderr  # the check above sees a mistake


def test_another_bpftop_is_named_and_ours_still_installed(as_before, tmp_path: Path) -> None:
    other = tmp_path / "bpftop"
    other.write_text("#!/bin/sh\necho netflix\n")
    other.chmod(0o755)
    result = install(PATH=f"{tmp_path}:{os.environ['PATH']}")
    assert result.returncode == 0, result.stderr
    assert f"another program named bpftop is at {other}" in result.stderr
    assert other.read_text() == "#!/bin/sh\necho netflix\n"
    assert "bpftop's make install" in LAUNCHER.read_text()


def test_a_file_bpftop_did_not_write_is_never_replaced_or_removed(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("the install script refuses to run without root")
    bin_dir, unit_dir = tmp_path / "bin", tmp_path / "units"
    bin_dir.mkdir()
    theirs = bin_dir / "bpftop"
    theirs.write_text("#!/bin/sh\necho mine\n")
    env = {"BIN_DIR": str(bin_dir), "UNIT_DIR": str(unit_dir)}
    result = install(**env)
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"make install: {theirs} exists and is not bpftop's launcher or unit: move it away first"
    )
    removed = install("uninstall", **env)
    assert removed.returncode == 0
    assert theirs.read_text() == "#!/bin/sh\necho mine\n"
    assert not unit_dir.exists()
    shutil.rmtree(bin_dir)
