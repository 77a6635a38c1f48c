-- ip_user_rollup_inconsistent: a row of ip_user_rollup that differs from a recomputation over
-- the sessions it holds (missing, extra, stored twice, or another first session, last start or
-- count) in an org whose ip_user_rollup_state says it is current. It holds, per org with a state
-- row, the sessions with an ip whose first_run_id is at most the state's through_run or NULL
-- (sessions of later runs wait for the next findings evaluation). When those sessions no longer
-- match the state's count and checksum (a session's address, user or start changed since), the
-- rollup is stale by its own account and the next evaluation rebuilds it before any rule reads
-- it: not reported.
-- Returns (org, ip, user_id, stored row, recomputed row).
WITH held AS MATERIALIZED (
    SELECT s.org, s.ip, s.user_id, s.id, s.start_time,
        CAST(hash(s.id, s.ip, s.user_id, s.start_time) AS HUGEINT) AS part
    FROM user_sessions AS s
    JOIN ip_user_rollup_state AS st ON st.org = s.org
    WHERE s.ip IS NOT NULL
        AND (s.first_run_id IS NULL OR s.first_run_id <= st.through_run)
),
current_orgs AS (
    SELECT st.org
    FROM ip_user_rollup_state AS st
    LEFT JOIN (
        SELECT org, count(*) AS sessions, sum(part) AS checksum FROM held GROUP BY org
    ) AS h ON h.org = st.org
    WHERE st.sessions = coalesce(h.sessions, 0) AND st.checksum = coalesce(h.checksum, 0)
),
recomputed AS (
    SELECT org, ip, user_id,
        {'first_start': min(start_time),
         'first_id': arg_min(id, CAST(epoch_us(start_time) AS HUGEINT) * 18446744073709551616
            + id),
         'last_start': max(start_time), 'sessions': count(*)} AS r
    FROM held
    WHERE org IN (SELECT org FROM current_orgs)
    GROUP BY org, ip, user_id
),
stored AS (
    SELECT org, ip, user_id,
        {'first_start': first_start, 'first_id': first_id, 'last_start': last_start,
         'sessions': sessions} AS r,
        count(*) OVER (PARTITION BY org, ip, user_id) AS copies
    FROM ip_user_rollup
    WHERE org IN (SELECT org FROM current_orgs)
)
SELECT coalesce(s.org, c.org) AS org, coalesce(s.ip, c.ip) AS ip,
    coalesce(s.user_id, c.user_id) AS user_id, CAST(s.r AS VARCHAR) AS stored,
    CAST(c.r AS VARCHAR) AS recomputed
FROM stored AS s
FULL JOIN recomputed AS c ON c.org = s.org AND c.ip = s.ip AND c.user_id = s.user_id
WHERE s.r IS DISTINCT FROM c.r OR s.copies > 1
