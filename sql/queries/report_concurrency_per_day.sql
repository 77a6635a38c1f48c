-- report_concurrency_per_day: concurrent-session incidents (pairs of overlapping sessions of one
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
