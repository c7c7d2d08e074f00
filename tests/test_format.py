"""The small formatters: what a cut or a big number looks like on screen."""

from __future__ import annotations

from bpftop.core.format import clip, compact_count


def test_a_cut_command_line_ends_at_a_word_and_says_so() -> None:
    line = "/usr/bin/python3 -m gunicorn --workers 8 --bind 0.0.0.0:8000 app.wsgi:application"
    cut = clip(line, 50)
    assert len(cut) <= 50 and cut.endswith("…")
    assert line.startswith(cut[:-1]) and line[len(cut) - 1] == " "  # a whole word last
    assert clip("short", 50) == "short"
    assert clip("x" * 80, 10) == "x" * 9 + "…"  # no space to cut at: cut and marked


def test_counts_stay_five_characters_wide() -> None:
    for n, shown in ((0, "0"), (99_999, "99999"), (123_456, "123k"), (999_500, "1.0M"),
                     (12_345_678, "12M"), (999_999_999, "1.0G")):  # fmt: skip
        assert compact_count(n) == shown
    assert all(len(compact_count(10**k + 7)) <= 5 for k in range(13))
