-- period/sessions: temp view period_sessions, the rows of user_sessions that ran at some moment
-- of the period bound by sql/period/bind.sql (variable session_audit_period: since inclusive,
-- until exclusive, NULL = open side).
--
-- A session belongs to the period when it started before `until` and either started at or
-- after `since` or was still running at `since`: its end, or for a session the API reports
-- open the assumed end of the one open-session rule (macro session_assumed_end: at most
-- open_session_hours after its start, never beyond the org's newest data, view data_horizon),
-- lies after `since`. A session that ended before it started (anomaly end_before_start)
-- belongs to the period of its start. The period views (session_audit.analysis.period) are
-- the shipped views read over this view instead of user_sessions. Same columns as user_sessions.
CREATE OR REPLACE TEMP VIEW period_sessions AS
SELECT s.*
FROM user_sessions AS s
JOIN data_horizon AS h
    ON h.org = s.org
WHERE (
        getvariable('session_audit_period').until IS NULL
        OR s.start_time < getvariable('session_audit_period').until
    )
    AND (
        getvariable('session_audit_period').since IS NULL
        OR s.start_time >= getvariable('session_audit_period').since
        OR session_assumed_end(s.start_time, s.end_time, h.newest_data)
            > getvariable('session_audit_period').since
    )
