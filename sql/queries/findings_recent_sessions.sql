-- findings_recent_sessions: temp view finding_recent_sessions, the rows of user_sessions an
-- evaluation's window can involve (variable session_audit_findings_window, bound by
-- sql/queries/findings_window.sql): every session that starts at or after the window's start or
-- is still running then (its end, or for a session the API reports open the assumed end of the
-- one open-session rule, macro session_assumed_end with the org's newest data, lies after it).
-- With no window (since NULL: a full evaluation) every session. Same columns as user_sessions.
-- Any pair of sessions overlapping at or after the window's start has both sessions here.
CREATE OR REPLACE TEMP VIEW finding_recent_sessions AS
SELECT s.*
FROM user_sessions AS s
WHERE getvariable('session_audit_findings_window').since IS NULL
    OR s.start_time >= getvariable('session_audit_findings_window').since
    OR session_assumed_end(
        s.start_time, s.end_time, getvariable('session_audit_findings_window').newest
    ) > getvariable('session_audit_findings_window').since
