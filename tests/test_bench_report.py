"""make bench rewrites BENCHMARKS.md's tables but keeps the notes written by hand between its
markers (they were lost on every rewrite before, and re-added by hand)."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benches"))

import bench  # noqa: E402


def test_a_rewrite_keeps_the_hand_written_notes(tmp_path: Path) -> None:
    report = tmp_path / "BENCHMARKS.md"
    assert bench.kept_notes(report) == ""  # no report yet
    notes = "Where the routers stand: 79x.\n\n- measured and dropped: X (0%)"
    report.write_text(bench.render({}, "make bench", 1, None, notes), encoding="utf-8")
    assert bench.kept_notes(report) == notes
    # written again from its own notes: the same notes, once
    report.write_text(bench.render({}, "make bench", 1, None, bench.kept_notes(report)), encoding="utf-8")
    text = report.read_text(encoding="utf-8")
    assert bench.kept_notes(report) == notes and text.count(notes) == 1
    # they sit after the routers' targets, before the next section
    assert text.index("larger meshes.") < text.index(notes)


def test_the_checked_in_report_has_its_notes_between_the_markers() -> None:
    notes = bench.kept_notes(ROOT / "BENCHMARKS.md")
    assert "session start | this code" in notes and "Known regression" in notes
