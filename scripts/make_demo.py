"""Writes bpftop/data/demo.jsonl.gz, the recording `bpftop --demo` plays, from
tests/helpers/recorded.py's invented session (tests check the two agree)."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bpftop.outputs.recording import RecordingWriter, make_header  # noqa: E402
from tests.helpers.recorded import T0, demo_session  # noqa: E402

target = ROOT / "bpftop" / "data" / "demo.jsonl.gz"
target.unlink(missing_ok=True)
header = make_header(host="web-01", kernel="6.18.44", lockdown="integrity", interval_s=1.0,
                     plans={})  # fmt: skip
header["started"] = T0 - 120  # reproducible bytes
header["demo"] = "invented data: a web server's bad afternoon"
writer = RecordingWriter(target, header)
writer.write_all(demo_session())
writer.close()
target.chmod(0o644)  # shipped: anyone may play it
print(f"{target}: {writer.records} records, {target.stat().st_size} bytes")
