-- findings_window: bind the time window of one evaluation of $org to the connection variable
-- session_audit_findings_window {since, newest}, read by the temp view finding_recent_sessions
-- (sql/queries/findings_recent_sessions.sql).
--   since   TIMESTAMPTZ  00:00 UTC of the day of the earliest start among the sessions with id
--                        >= $since_id (the new ones); 'infinity' when there is none; NULL for a
--                        full evaluation ($full): no window, every session
--   newest  TIMESTAMPTZ  the org's newest data (view data_horizon), the end an open session is
--                        assumed to reach at most
-- A connection variable, bound as parameters: nothing is written to the file.
SET VARIABLE session_audit_findings_window = (
    SELECT {
        'since': CASE WHEN $full THEN NULL ELSE coalesce(
            timezone('UTC', CAST(CAST(timezone('UTC', min(s.start_time)) AS DATE) AS TIMESTAMP)),
            CAST('infinity' AS TIMESTAMPTZ)
        ) END,
        'newest': (SELECT h.newest_data FROM data_horizon AS h WHERE h.org = $org)
    }
    FROM user_sessions AS s
    WHERE s.org = $org AND s.id >= $since_id
)
