"""The coverage proof (issue 10 item 6): views user_coverage / coverage_gaps and the one line
that `session-audit report` and the demo print, on hand-made rows."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

from session_audit.analysis.coverage import coverage_line, read_coverage
from session_audit.analysis.report import collect, render_html
from session_audit.demo_pipeline import DemoOptions, DemoOutcome, read_facts, summary_lines
from test_views_data import T0, add_last_sessions, add_sessions, at, make_db, rows


def _db(path: Path | str = ":memory:") -> Any:
    conn = make_db(path)
    conn.executemany(
        "INSERT INTO users (org, id, name, created_at) VALUES (?, ?, ?, ?)",
        [
            ["default", 1, "alice", T0],
            ["default", 2, "bob", T0],
            ["default", 3, "carol", T0],
            ["default", 4, "dave", at(10)],
            ["default", 5, "erin", at(10)],
            ["default", 6, "frank", T0],
        ],
    )
    add_sessions(
        conn,
        [
            {"id": 1, "user_id": 1, "start": at(100), "end": at(110)},
            {"id": 2, "user_id": 1, "start": at(200), "end": at(210)},
            {"id": 3, "user_id": 2, "start": at(100), "end": at(110)},
            {"id": 4, "user_id": 6, "start": at(300), "end": None},
            {"id": 5, "user_id": 9, "start": at(50), "end": at(60), "org": "other"},
        ],
    )
    add_last_sessions(
        conn,
        [
            (1, 1, at(500), at(200)),  # the newest stored session: covered
            (1, 2, at(500), at(400)),  # a later session the API knows: not covered
            (1, 3, at(500), None),  # never logged in (no lastSessionTime): covered
            (1, 4, at(500), at(10)),  # lastSessionTime = account creation, none stored
            (1, 5, at(500), at(150)),  # after creation, inside the trail, none stored: not covered
            (1, 6, at(500), at(900)),  # an older observation ...
            (2, 6, at(600), at(300)),  # ... the latest one counts: covered
        ],
    )
    add_last_sessions(conn, [(1, 9, at(500), at(50))], org="other")
    return conn


def test_coverage_gaps_lists_exactly_the_users_not_covered() -> None:
    conn = _db()
    got = rows(
        conn,
        "SELECT org, user_id, user_name, last_session_time, newest_session_start, observed_at,"
        " missing_seconds FROM coverage_gaps ORDER BY org, user_id",
    )
    assert got == [
        ("default", 2, "bob", at(400), at(100), at(500), 300 * 60.0),
        ("default", 5, "erin", at(150), None, at(500), None),
    ]
    covered = rows(conn, "SELECT org, user_id FROM user_coverage WHERE covered ORDER BY 1, 2")
    assert covered == [("default", 1), ("default", 3), ("default", 4), ("default", 6), ("other", 9)]


def test_the_coverage_line_names_the_users_not_covered() -> None:
    conn = _db()
    assert coverage_line(read_coverage(conn, org="default")) == (
        "2 of 6 users not covered: user 2 (bob) (API last session 2024-03-01 15:40:00 UTC, "
        "newest held 2024-03-01 10:40:00 UTC); user 5 (erin) (API last session "
        "2024-03-01 11:30:00 UTC, newest held none)"
    )
    assert coverage_line(read_coverage(conn, org="default", show=1)).endswith(
        "; and 1 more (see coverage_gaps)"
    )
    assert coverage_line(read_coverage(conn, org="other")) == (
        "all 1 users covered up to 2024-03-01 09:50:00 UTC"
    )


def test_a_last_session_before_the_trail_began_is_covered() -> None:
    """A first run with --since DATE starts the trail there: an earlier session is out of it."""
    conn = _db()
    conn.execute("UPDATE user_session_stats SET last_session_time = ? WHERE user_id = 5", [at(20)])
    covered = rows(conn, "SELECT covered FROM user_coverage WHERE user_id = 5")
    assert covered == [(True,)]


def test_all_users_covered_and_no_stats_yet() -> None:
    conn = _db()
    conn.execute("DELETE FROM user_session_stats WHERE user_id IN (2, 5)")
    assert coverage_line(read_coverage(conn)) == "all 5 users covered up to 2024-03-01 14:00:00 UTC"
    assert coverage_line(read_coverage(make_db())) == (
        "coverage unknown: no userSessionStats observed yet"
    )


def test_report_and_demo_print_the_coverage_line(tmp_path: Path) -> None:
    db = tmp_path / "c.duckdb"
    conn = _db(db)
    page = render_html(collect(conn))
    assert '<p class="coverage" id="coverage">Coverage: 2 of 7 users not covered: ' in page
    conn.close()
    facts = read_facts(db)
    assert facts.coverage.startswith("2 of 7 users not covered: user 2 (bob)")
    outcome = DemoOutcome(
        options=DemoOptions(data_dir=tmp_path), summary=cast(Any, None), facts=facts
    )
    assert f"  coverage               {facts.coverage}" in summary_lines(outcome)
