-- report: the queries of session_audit.analysis.report (the HTML report's tables and
-- charts). Each reads the analysis views; the period-aware ones are rewritten by
-- analysis/period.py to read the views computed over the report period.

-- name: concurrency_latest
-- the most recent concurrent-session incidents (report table), each
-- with both sessions' IPs and apps and the overlap window. $org: one organisation or NULL for
-- all; $limit: how many rows.
-- app / other_app: app_id and app_version of each session, e.g. 'Trader 2.0' (NULL parts left
-- out). overlap_end: the end of the overlap under the open-session rule (see data_horizon).
-- state: 'closed' when both sessions ended; 'open at the newest data' when still_open (both
-- open and the capped overlap reaches the newest data); else 'open, started N days ago' with N
-- the whole days from the start of the first open session of the pair to the org's newest data
-- (never the local clock): a stale record, not a session in use.
WITH latest AS (
    SELECT
        c.*,
        CAST(floor((epoch_ms(h.newest_data) - epoch_ms(
            CASE WHEN c.end_time IS NULL THEN c.start_time ELSE c.other_start_time END
        )) / 86400000) AS BIGINT) AS open_days
    FROM concurrent_sessions AS c
    JOIN data_horizon AS h
        ON h.org = c.org
    WHERE $org IS NULL OR c.org = $org
    ORDER BY c.overlap_start DESC, c.user_id, c.session_id, c.other_session_id
    LIMIT $limit
)
SELECT
    l.org, l.user_id, l.user_name, l.session_id, l.other_session_id, l.ip_address,
    l.other_ip_address,
    nullif(concat_ws(' ', a.app_id, a.app_version), '') AS app,
    nullif(concat_ws(' ', b.app_id, b.app_version), '') AS other_app,
    l.overlap_start, l.overlap_end, l.overlap_seconds, l.still_open,
    CASE
        WHEN l.still_open THEN 'open at the newest data'
        WHEN l.end_time IS NULL OR l.other_end_time IS NULL THEN
            'open, started ' || l.open_days
            || CASE WHEN l.open_days = 1 THEN ' day' ELSE ' days' END || ' ago'
        ELSE 'closed'
    END AS state
FROM latest AS l
LEFT JOIN user_sessions AS a
    ON a.org = l.org AND a.id = l.session_id
LEFT JOIN user_sessions AS b
    ON b.org = l.org AND b.id = l.other_session_id
ORDER BY l.overlap_start DESC, l.user_id, l.session_id, l.other_session_id

-- name: concurrency_per_day
-- concurrent-session incidents (pairs of overlapping sessions of one
-- user from different IPs) per UTC day of the overlap start (report chart). $org: org or NULL.
-- $since: the start of the report period or NULL; an incident whose overlap began before it
-- (sessions running into the period) counts on the period's first day.
SELECT
    CAST(timezone('UTC', greatest(overlap_start, coalesce($since, overlap_start))) AS DATE)
        AS day,
    count(*) AS incidents,
    count(DISTINCT user_id) AS users
FROM concurrent_sessions
WHERE $org IS NULL OR org = $org
GROUP BY day
ORDER BY day

-- name: findings
-- the open (unacknowledged) findings for the top of the HTML report, most
-- severe and newest first, at most $limit, each with the number of open findings of its
-- severity (open_of_severity); $org NULL: every organisation. $since/$until: the report period
-- (NULL = open side): findings whose first_seen..last_seen span overlaps it.
SELECT
    org, id, rule, severity, user_ids, session_ids, last_seen, summary,
    count(*) OVER (PARTITION BY severity) AS open_of_severity
FROM findings
WHERE acknowledged_at IS NULL AND ($org IS NULL OR org = $org)
    AND ($since IS NULL OR last_seen >= $since)
    AND ($until IS NULL OR first_seen < $until)
ORDER BY list_position(['info', 'low', 'medium', 'high'], severity) DESC, last_seen DESC, id
LIMIT $limit

-- name: logins_per_day
-- sessions started and distinct users per UTC day (report chart).
-- $org: one organisation or NULL for all. $since/$until: the report period (since inclusive,
-- until exclusive, NULL = open side); only sessions that started in it are counted (a
-- session running into the period counts on the day it started, before the period).
SELECT
    CAST(timezone('UTC', start_time) AS DATE) AS day,
    count(*) AS sessions,
    count(DISTINCT user_id) AS users
FROM user_sessions
WHERE ($org IS NULL OR org = $org)
    AND ($since IS NULL OR start_time >= $since)
    AND ($until IS NULL OR start_time < $until)
GROUP BY day
ORDER BY day

-- name: summary
-- headline figures of the HTML report. $org: one organisation or NULL for all.
-- Open sessions follow the one rule of data_horizon: open_sessions counts every record the API
-- reports open (end_time NULL); running_sessions only those whose assumed run (at most
-- open_session_hours after the start, never beyond the org's newest data) reaches the newest
-- data; the rest are stale records never closed. newest_data: the latest start or end stored.
WITH scoped AS (
    SELECT s.*, h.newest_data
    FROM user_sessions AS s
    JOIN data_horizon AS h
        ON h.org = s.org
    WHERE $org IS NULL OR s.org = $org
)
SELECT
    count(*) AS sessions,
    count(DISTINCT user_id) AS users,
    count(*) FILTER (WHERE end_time IS NULL) AS open_sessions,
    count(*) FILTER (
        WHERE end_time IS NULL
        AND session_assumed_end(start_time, end_time, newest_data) >= newest_data
    ) AS running_sessions,
    count(DISTINCT ip) AS ips,
    min(start_time) AS first_login,
    max(start_time) AS last_login,
    max(newest_data) AS newest_data,
    open_session_hours() AS open_session_hours
FROM scoped

-- name: top_shared_ips
-- the IP addresses used by the most distinct users (report chart).
-- $org: one organisation or NULL for all; $limit: how many rows.
SELECT org, address, ip_family, users, user_ids, sessions, first_shared, last_seen
FROM shared_ips
WHERE kind = 'ip' AND ($org IS NULL OR org = $org)
ORDER BY users DESC, sessions DESC, address
LIMIT $limit

-- name: user_names
-- every stored user's name, so the report can print "name (#id)" next to
-- every user id. $org: one organisation or NULL for all.
SELECT org, id, name
FROM users
WHERE ($org IS NULL OR org = $org) AND name IS NOT NULL

-- name: users_at_risk
-- users with at least one risk flag, most flags first (report table).
-- $org: one organisation or NULL for all; $limit: how many rows.
SELECT org, user_id, user_name, status, failed_passwords, ip_count, shared_ip_count,
    concurrency_incidents, last_login, risk_flags
FROM user_risk_summary
WHERE len(risk_flags) > 0 AND ($org IS NULL OR org = $org)
ORDER BY len(risk_flags) DESC, concurrency_incidents DESC, shared_ip_count DESC,
    coalesce(failed_passwords, 0) DESC, user_id
LIMIT $limit

-- name: version_adoption
-- per UTC day, the share of each of the $apps busiest apps' daily users
-- on each of its versions (one report chart per app), versions in version-aware order.
-- $org: one org or NULL for all. $since/$until: the report period (NULL = open side): the days
-- that overlap it. app_rank: 1 for the app with the most sessions in those days.
WITH days AS (
    SELECT *
    FROM app_version_daily
    WHERE ($org IS NULL OR org = $org)
        AND ($since IS NULL OR CAST(day AS TIMESTAMPTZ) + INTERVAL 1 DAY > $since)
        AND ($until IS NULL OR CAST(day AS TIMESTAMPTZ) < $until)
),
busiest AS (
    SELECT app_id, row_number() OVER (ORDER BY sum(sessions) DESC, app_id) AS app_rank
    FROM days
    GROUP BY app_id
    QUALIFY app_rank <= $apps
)
SELECT
    b.app_rank,
    d.day,
    d.app_id,
    d.app_version,
    max(d.version_key) AS version_key,
    sum(d.users) AS users,
    sum(d.app_users) AS app_users
FROM days AS d
JOIN busiest AS b ON d.app_id IS NOT DISTINCT FROM b.app_id
GROUP BY b.app_rank, d.day, d.app_id, d.app_version
ORDER BY b.app_rank, d.day, version_key NULLS LAST, d.app_version
