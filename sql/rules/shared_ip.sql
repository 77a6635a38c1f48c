-- Rule shared_ip: one IP address used by accounts of different people: users that are not
-- linked users of each other (an account and its linked accounts, users.linked_user_id, count
-- as one person), graded by the number of people.
-- Why it matters: five funded accounts from one home IP are usually one trader running several
-- accounts, which prop-firm rules forbid; an office or a known VPN gateway is not.
-- Allow-list: addresses in the setting allowlist (SESSION_AUDIT_ALLOWLIST, CIDRs; registered
-- by the evaluator as finding_allowlisted_ips) never fire.
-- Thresholds: none as settings; grades by distinct people: 2 low, 3-4 medium, 5 or more high.
-- Parameters: $org; $since_id: only addresses used by a session of id >= $since_id.
-- Key: the canonical IP.
-- session_ids: each account's first session from the address.
-- Reads ip_user_rollup (the evaluator brings it up to date first) for the accounts of an
-- address; user_sessions only for the addresses of the new sessions.
-- Returns the finding columns: severity, finding_key, user_ids, session_ids, first_seen,
-- last_seen, summary, evidence (JSON text).
WITH candidate_ips AS (
    SELECT DISTINCT ip FROM user_sessions
    WHERE org = $org AND id >= $since_id AND ip IS NOT NULL
        AND ip NOT IN (SELECT ip FROM finding_allowlisted_ips)
),
per_account AS (
    -- one row per (ip, user) from ip_user_rollup (kept by the evaluator: every session of the
    -- org with an ip, session_audit.db.ip_user_rollup), not from every earlier session (a 60k
    -- ingest onto 10M sessions: 1.13 s when this read user_sessions twice); f is the account's
    -- first session from the address (by start, then id)
    SELECT
        r.ip, r.user_id, {'t': r.first_start, 'id': r.first_id} AS f,
        r.last_start AS last_seen, r.sessions
    FROM ip_user_rollup AS r
    WHERE r.org = $org AND r.ip IN (SELECT ip FROM candidate_ips)
),
per_user AS (
    -- users has one row per (org, id): the account's person is its linked user, else itself
    SELECT a.*, coalesce(u.linked_user_id, a.user_id) AS person
    FROM per_account AS a
    LEFT JOIN users AS u ON u.org = $org AND u.id = a.user_id
),
per_ip AS (
    SELECT
        ip, count(DISTINCT person) AS people, count(*) AS accounts,
        list_sort(list(user_id)) AS user_ids, list_sort(list((f).id)) AS session_ids,
        min((f).t) AS first_seen, max(last_seen) AS last_seen, sum(sessions) AS sessions
    FROM per_user
    GROUP BY ip
    HAVING count(DISTINCT person) >= 2
)
SELECT
    CASE WHEN people >= 5 THEN 'high' WHEN people >= 3 THEN 'medium' ELSE 'low' END
        AS severity,
    ip AS finding_key,
    user_ids,
    session_ids,
    first_seen,
    last_seen,
    format('{} accounts of {} different people logged in from {}: users {}.',
        accounts, people, ip, array_to_string(user_ids, ', ')) AS summary,
    CAST(json_object(
        'ip', ip, 'accounts', accounts, 'people', people, 'sessions', sessions
    ) AS VARCHAR) AS evidence
FROM per_ip
