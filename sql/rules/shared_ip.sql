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
-- Returns the finding columns: severity, finding_key, user_ids, session_ids, first_seen,
-- last_seen, summary, evidence (JSON text).
WITH candidate_ips AS (
    SELECT DISTINCT ip FROM user_sessions
    WHERE org = $org AND id >= $since_id AND ip IS NOT NULL
        AND ip NOT IN (SELECT ip FROM finding_allowlisted_ips)
),
shared_ips AS (
    -- necessary: two people are two accounts; a light aggregate (no per-account state) keeps
    -- the addresses used by more than one account
    SELECT ip
    FROM user_sessions
    WHERE org = $org AND ip IN (SELECT ip FROM candidate_ips)
    GROUP BY ip
    HAVING min(user_id) <> max(user_id)
),
per_account AS (
    -- aggregated before users is joined: one row per (ip, user), not per session
    SELECT
        s.ip, s.user_id,
        min({'t': s.start_time, 'id': s.id}) AS f, max(s.start_time) AS last_seen,
        count(*) AS sessions
    FROM user_sessions AS s
    WHERE s.org = $org AND s.ip IN (SELECT ip FROM shared_ips)
    GROUP BY s.ip, s.user_id
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
