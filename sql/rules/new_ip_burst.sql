-- Rule new_ip_burst: a run of logins of one user from addresses new to that user (the user's
-- first session from each canonical IP), each within the burst window of the previous one, at
-- least the burst size long.
-- Why it matters: a person brings a new address now and then; several new addresses within
-- the hour are a credential tried from many places, a rotating proxy or a shared login.
-- Thresholds (settings -> parameters): findings_burst_ips (SESSION_AUDIT_FINDINGS_BURST_IPS,
-- default 4) -> $burst_ips; findings_burst_minutes (SESSION_AUDIT_FINDINGS_BURST_MINUTES,
-- default 60) -> $burst_minutes.
-- Severity: medium; high from twice the burst size.
-- Parameters: $org; $since_id: only bursts with a session of id >= $since_id.
-- Key: '<user id>:<first session id of the burst>' (a burst that grows keeps its finding).
-- Reads ip_user_rollup (the evaluator brings it up to date first) for each user's first use of
-- each address.
-- Returns the finding columns: severity, finding_key, user_ids, session_ids, first_seen,
-- last_seen, summary, evidence (JSON text).
WITH changed_users AS (
    SELECT DISTINCT user_id FROM user_sessions WHERE org = $org AND id >= $since_id
),
first_per_ip AS (
    -- each changed user's first session from each address, by (start, id), from ip_user_rollup
    -- (kept by the evaluator, session_audit.db.ip_user_rollup; a 60k ingest onto 10M sessions:
    -- about 1 s when this grouped every session of the changed users)
    SELECT user_id, ip, first_start AS t, first_id AS id
    FROM ip_user_rollup
    WHERE org = $org AND user_id IN (SELECT user_id FROM changed_users)
),
eligible AS (
    -- necessary for a burst (exact, a filter before the windows): at least $burst_ips first
    -- uses, one of them a session of id >= $since_id (a burst's newest_id); the windows then
    -- sort only these users' first uses
    SELECT user_id
    FROM first_per_ip
    GROUP BY user_id
    HAVING count(*) >= $burst_ips AND max(id) >= $since_id
),
ordered AS (
    SELECT user_id, ip, t, id,
        lag(t) OVER (PARTITION BY user_id ORDER BY t, id) AS prev_t
    FROM first_per_ip
    WHERE user_id IN (SELECT user_id FROM eligible)
),
islands AS (
    SELECT *,
        sum(CASE WHEN prev_t IS NULL
                OR epoch_ms(t) - epoch_ms(prev_t) > $burst_minutes * 60000 THEN 1 ELSE 0 END)
            OVER (PARTITION BY user_id ORDER BY t, id) AS island
    FROM ordered
),
bursts AS (
    SELECT user_id, island, count(*) AS new_ips, list_sort(list(id)) AS session_ids,
        list(ip ORDER BY t, id) AS ips, min(t) AS first_seen, max(t) AS last_seen,
        min(id) AS first_id, max(id) AS newest_id
    FROM islands
    GROUP BY user_id, island
    HAVING count(*) >= $burst_ips
)
SELECT
    CASE WHEN b.new_ips >= 2 * $burst_ips THEN 'high' ELSE 'medium' END AS severity,
    CAST(b.user_id AS VARCHAR) || ':' || CAST(b.first_id AS VARCHAR) AS finding_key,
    [b.user_id] AS user_ids,
    b.session_ids,
    b.first_seen,
    b.last_seen,
    format('{} logged in from {} new addresses within {} minutes.',
        finding_user_label(u.name, b.user_id), b.new_ips,
        CAST(round((epoch_ms(b.last_seen) - epoch_ms(b.first_seen)) / 60000.0) AS BIGINT))
        AS summary,
    CAST(json_object(
        'new_ips', b.new_ips, 'ips', b.ips,
        'minutes', round((epoch_ms(b.last_seen) - epoch_ms(b.first_seen)) / 60000.0, 1),
        'threshold_ips', $burst_ips, 'window_minutes', $burst_minutes
    ) AS VARCHAR) AS evidence
FROM bursts AS b
LEFT JOIN users AS u ON u.org = $org AND u.id = b.user_id
WHERE b.newest_id >= $since_id
