"""Where the shipped data directories are: inside the wheel, or beside the package in a checkout."""

from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent.parent  # bpftop/, above core/


def _find(name: str) -> Path:
    for candidate in (_PACKAGE_DIR / name, _PACKAGE_DIR.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"bpftop is installed without its {name}/ directory")


def bpf_dir() -> Path:
    """Absolute path of the BPF C sources (bcc compiles them by path)."""
    return _find("bpf")


def themes_dir() -> Path:
    return _find("themes")


def demo_recording() -> Path:
    """The recording `bpftop --demo` plays (made by scripts/make_demo.py)."""
    return _find("data") / "demo.jsonl.gz"
