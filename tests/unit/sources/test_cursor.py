"""Stream cursors: marks per date and where a scan starts."""

from __future__ import annotations

from datetime import date

from pipeline.sources.cursor import StreamCursor

D = date.fromisoformat


def test_cursor_marks_and_scan_start() -> None:
    cur = StreamCursor(stream="c/mail_log")
    assert cur.scan_start() is None
    cur.mark_missing([D("2026-03-09"), D("2026-03-10")], {0: 5, 1: 7})
    cur.mark_missing([D("2026-03-10"), D("2026-03-11")], {0: 9, 1: 3})
    assert cur.marks[D("2026-03-10")] == {0: 5, 1: 7}  # an existing mark is never moved
    assert cur.scan_start() == {0: 5, 1: 3}
    cur.close_through(D("2026-03-10"))
    assert list(cur.marks) == [D("2026-03-11")]
    assert not cur.mark_missing([D("2026-03-10")], {0: 1})  # closed dates get no mark
    back = StreamCursor.model_validate(cur.to_json())
    assert back.closed_through == D("2026-03-10") and back.marks == {D("2026-03-11"): {0: 9, 1: 3}}
