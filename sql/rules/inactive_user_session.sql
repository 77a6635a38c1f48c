-- Rule inactive_user_session: sessions of a user whose status (users.status, as last seen from
-- /user/list) is not 'Active' (e.g. 'Closed', 'TemporaryLocked', 'Initiated',
-- 'UnconfirmedEmail'). Users with no known status are left out.
-- Why it matters: a closed or locked account should not log in at all; one that does points
-- at a stale permission, a status the back office forgot, or sessions that predate the change
-- (the status history is not kept: check the session times in the finding).
-- One finding per user and status, listing the user's latest 20 sessions.
-- Thresholds: none. Severity: medium for 'Closed', low for any other status.
-- Parameters: $org; $since_id: only users with a session of id >= $since_id.
-- Key: '<user id>:<status>'.
-- Returns the finding columns: severity, finding_key, user_ids, session_ids, first_seen,
-- last_seen, summary, evidence (JSON text).
WITH flagged AS (
    SELECT u.id AS user_id, u.name, u.status
    FROM users AS u
    WHERE u.org = $org AND u.status IS NOT NULL AND u.status <> 'Active'
        AND u.id IN (SELECT user_id FROM user_sessions WHERE org = $org AND id >= $since_id)
),
sessions AS (
    SELECT s.user_id, count(*) AS sessions, min(s.start_time) AS first_seen,
        max(s.start_time) AS last_seen,
        list_sort(list(s.id ORDER BY s.id DESC)[1:20]) AS session_ids
    FROM user_sessions AS s
    WHERE s.org = $org AND s.user_id IN (SELECT user_id FROM flagged)
    GROUP BY s.user_id
)
SELECT
    CASE WHEN f.status = 'Closed' THEN 'medium' ELSE 'low' END AS severity,
    CAST(f.user_id AS VARCHAR) || ':' || f.status AS finding_key,
    [f.user_id] AS user_ids,
    s.session_ids,
    s.first_seen,
    s.last_seen,
    format('{} has status {} but {} session(s), the latest at {}.',
        finding_user_label(f.name, f.user_id), f.status, s.sessions,
        strftime(s.last_seen, '%Y-%m-%d %H:%M UTC')) AS summary,
    CAST(json_object('status', f.status, 'sessions', s.sessions) AS VARCHAR) AS evidence
FROM flagged AS f
JOIN sessions AS s ON s.user_id = f.user_id
