-- Rule dormant_reactivated: a session of a user who had no activity for the dormancy period
-- (the end, or the start when open, of every earlier session is that long before its start),
-- from a /24 (v4) or /64 (v6) network the user had never used.
-- Why it matters: an account that slept for months and wakes up from an unknown network is
-- the classic taken-over or resold account.
-- Threshold (setting -> parameter): findings_dormant_days
--   (SESSION_AUDIT_FINDINGS_DORMANT_DAYS, default 60) -> $dormant_days
-- Severity: medium.
-- Parameters: $org; $since_id: only waking sessions with id >= $since_id.
-- Plan: the session just before each new one (by start) must already be that far in the past
-- (a window lag over the evaluation window's sessions plus each user's last one before it; no
-- running maximum over a user's whole history); only those few candidates are checked against
-- every earlier session of their user (latest activity, networks used). Before the sort, users
-- without a dormancy-long hole between session starts (buckets of half the period) are left
-- out by one small aggregate (gapped_users): the sort holds only users that can wake up. The
-- window comes from the evaluator (variable session_audit_findings_window, window in
-- sql/queries/findings.sql).
-- Key: the waking session id.
-- Returns the finding columns: severity, finding_key, user_ids, session_ids, first_seen,
-- last_seen, summary, evidence (JSON text).
WITH changed_users AS (
    SELECT DISTINCT user_id FROM user_sessions WHERE org = $org AND id >= $since_id
),
recent AS NOT MATERIALIZED (
    -- the changed users' sessions from the evaluation window's start on (variable
    -- session_audit_findings_window.since: 00:00 UTC of the day of the earliest new session;
    -- NULL for a full evaluation: every session)
    SELECT user_id, id, start_time, coalesce(end_time, start_time) AS activity
    FROM user_sessions
    WHERE org = $org AND user_id IN (SELECT user_id FROM changed_users)
        AND (getvariable('session_audit_findings_window').since IS NULL
            OR start_time >= getvariable('session_audit_findings_window').since)
),
before AS (
    -- each changed user's last session before the window: the predecessor of its first recent
    -- one (an aggregate over the history, no sort)
    -- by the key start microseconds * 2^64 + id (exactly the (start, id) order; HUGEINT
    -- aggregates cost less than a struct maximum)
    SELECT user_id,
        CAST(k - CAST(epoch_us(start_time) AS HUGEINT) * 18446744073709551616 AS BIGINT) AS id,
        start_time, activity
    FROM (
        SELECT user_id, max(start_time) AS start_time,
            max(CAST(epoch_us(start_time) AS HUGEINT) * 18446744073709551616 + id) AS k,
            arg_max(coalesce(end_time, start_time),
                CAST(epoch_us(start_time) AS HUGEINT) * 18446744073709551616 + id) AS activity
        FROM user_sessions
        WHERE org = $org AND user_id IN (SELECT user_id FROM changed_users)
            AND start_time < getvariable('session_audit_findings_window').since
        GROUP BY user_id
    )
),
gapped_users AS (
    -- necessary for a candidate of a user (exact, a filter before the sort): between the
    -- predecessor's start (<= its activity unless the session ends before it starts) and the
    -- waking start lie >= $dormant_days days without a start, so one bucket of half that width
    -- in between holds no start of the user: its distinct buckets leave a hole. Users whose
    -- buckets are contiguous and whose sessions never end before they start are left out (one
    -- small aggregate instead of sorting every session of the window)
    SELECT user_id
    FROM (
        SELECT user_id,
            CAST(floor(epoch_ms(start_time) / ($dormant_days * 43200000.0)) AS BIGINT)
                AS bucket,
            bool_or(activity < start_time) AS backwards
        FROM (SELECT * FROM recent UNION ALL SELECT * FROM before)
        GROUP BY ALL
    )
    GROUP BY user_id
    HAVING $dormant_days <= 0 OR bool_or(backwards)
        OR count(*) < max(bucket) - min(bucket) + 1
),
ordered AS (
    -- narrow rows through the sort (the addresses of the few candidates are joined after it:
    -- carrying ip and ip_network through the window tripled its time)
    SELECT
        user_id, id, start_time,
        lag(activity) OVER w AS previous_activity,
        lag(id) OVER w AS previous_id
    FROM (SELECT * FROM recent UNION ALL SELECT * FROM before)
    WHERE user_id IN (SELECT user_id FROM gapped_users)
    WINDOW w AS (PARTITION BY user_id ORDER BY start_time, id)
),
candidates AS (
    -- necessary: the session just before was inactive for the whole dormancy period
    SELECT o.*, s.ip, s.ip_network
    FROM ordered AS o
    JOIN user_sessions AS s ON s.org = $org AND s.id = o.id
    WHERE o.id >= $since_id AND s.ip_network IS NOT NULL AND o.previous_id IS NOT NULL
        AND days_between(o.previous_activity, o.start_time) >= $dormant_days
),
woke AS (
    -- exact: the latest activity of every earlier session, and whether one used the network
    SELECT
        c.user_id, c.id, c.start_time, c.ip, c.ip_network, c.previous_id,
        max(coalesce(p.end_time, p.start_time)) AS last_activity,
        bool_or(p.ip_network IS NOT DISTINCT FROM c.ip_network) AS network_seen
    FROM candidates AS c
    JOIN user_sessions AS p
        ON p.org = $org AND p.user_id = c.user_id
        AND (p.start_time < c.start_time OR (p.start_time = c.start_time AND p.id < c.id))
    GROUP BY c.user_id, c.id, c.start_time, c.ip, c.ip_network, c.previous_id
)
SELECT
    'medium' AS severity,
    CAST(w.id AS VARCHAR) AS finding_key,
    [w.user_id] AS user_ids,
    [w.id] AS session_ids,
    w.last_activity AS first_seen,
    w.start_time AS last_seen,
    format('{} logged in again after {} days without a session, from a new network {}.',
        finding_user_label(u.name, w.user_id),
        CAST(floor(days_between(w.last_activity, w.start_time)) AS BIGINT),
        w.ip_network) AS summary,
    CAST(json_object(
        'dormant_days', round(days_between(w.last_activity, w.start_time), 1),
        'threshold_days', $dormant_days,
        'previous_session_id', w.previous_id, 'ip', w.ip, 'network', w.ip_network
    ) AS VARCHAR) AS evidence
FROM woke AS w
LEFT JOIN users AS u ON u.org = $org AND u.id = w.user_id
WHERE NOT w.network_seen
    AND days_between(w.last_activity, w.start_time) >= $dormant_days
