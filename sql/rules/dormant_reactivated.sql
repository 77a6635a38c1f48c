-- Rule dormant_reactivated: a session of a user who had no activity for the dormancy period
-- (the end, or the start when open, of every earlier session is that long before its start),
-- from a /24 (v4) or /64 (v6) network the user had never used.
-- Why it matters: an account that slept for months and wakes up from an unknown network is
-- the classic taken-over or resold account.
-- Threshold (setting -> parameter): findings_dormant_days
--   (SESSION_AUDIT_FINDINGS_DORMANT_DAYS, default 60) -> $dormant_days
-- Severity: medium.
-- Parameters: $org; $since_id: only waking sessions with id >= $since_id.
-- Key: the waking session id.
-- Returns the finding columns: severity, finding_key, user_ids, session_ids, first_seen,
-- last_seen, summary, evidence (JSON text).
WITH changed_users AS (
    SELECT DISTINCT user_id FROM user_sessions WHERE org = $org AND id >= $since_id
),
ordered AS (
    SELECT
        user_id, id, start_time, ip, ip_network,
        max(coalesce(end_time, start_time)) OVER (
            PARTITION BY user_id ORDER BY start_time, id
            ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
        ) AS last_activity,
        lag(id) OVER (PARTITION BY user_id ORDER BY start_time, id) AS previous_id
    FROM user_sessions
    WHERE org = $org AND user_id IN (SELECT user_id FROM changed_users)
),
woke AS (
    SELECT *, days_between(last_activity, start_time) AS dormant_days
    FROM ordered
    WHERE id >= $since_id AND last_activity IS NOT NULL AND ip_network IS NOT NULL
        AND days_between(last_activity, start_time) >= $dormant_days
)
SELECT
    'medium' AS severity,
    CAST(w.id AS VARCHAR) AS finding_key,
    [w.user_id] AS user_ids,
    [w.id] AS session_ids,
    w.last_activity AS first_seen,
    w.start_time AS last_seen,
    format('{} logged in again after {} days without a session, from a new network {}.',
        finding_user_label(u.name, w.user_id), CAST(floor(w.dormant_days) AS BIGINT),
        w.ip_network) AS summary,
    CAST(json_object(
        'dormant_days', round(w.dormant_days, 1), 'threshold_days', $dormant_days,
        'previous_session_id', w.previous_id, 'ip', w.ip, 'network', w.ip_network
    ) AS VARCHAR) AS evidence
FROM woke AS w
LEFT JOIN users AS u ON u.org = $org AND u.id = w.user_id
WHERE NOT EXISTS (
    SELECT 1 FROM user_sessions AS p
    WHERE p.org = $org AND p.user_id = w.user_id AND p.ip_network = w.ip_network
        AND (p.start_time < w.start_time OR (p.start_time = w.start_time AND p.id < w.id))
)
