-- findings_recent_sessions: temp view finding_recent_sessions, the rows of user_sessions an
-- evaluation's window can involve (variable session_audit_findings_window, bound by
-- sql/queries/findings_window.sql): every session that starts at or after the window's start or
-- is still running then (its end, or for a session the API reports open the assumed end of the
-- one open-session rule, macro session_assumed_end with the org's newest data, lies after it).
-- With no window (since NULL: a full evaluation) every session. Same columns as user_sessions.
-- Any pair of sessions overlapping at or after the window's start has both sessions here.
-- Written as four disjoint parts, each a range on one column, so that DuckDB skips the row
-- groups outside the window by their min/max (one OR over the columns read every row: 38 ms
-- against 1 ms per evaluation on 10M sessions).
CREATE OR REPLACE TEMP VIEW finding_recent_sessions AS
SELECT * FROM user_sessions
WHERE getvariable('session_audit_findings_window').since IS NULL
UNION ALL
SELECT * FROM user_sessions
WHERE start_time >= getvariable('session_audit_findings_window').since
UNION ALL
SELECT * FROM user_sessions
WHERE start_time < getvariable('session_audit_findings_window').since
    AND end_time > getvariable('session_audit_findings_window').since
UNION ALL
SELECT * FROM user_sessions
WHERE end_time IS NULL
    AND start_time < getvariable('session_audit_findings_window').since
    AND session_assumed_end(start_time, end_time,
        getvariable('session_audit_findings_window').newest)
        > getvariable('session_audit_findings_window').since
    AND start_time > getvariable('session_audit_findings_window').since
        - to_microseconds(CAST(open_session_hours() * 3600000000 AS BIGINT))
