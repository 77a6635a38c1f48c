-- report_logins_per_day: sessions started and distinct users per UTC day (report chart).
-- $org: one organisation or NULL for all.
SELECT
    CAST(timezone('UTC', start_time) AS DATE) AS day,
    count(*) AS sessions,
    count(DISTINCT user_id) AS users
FROM user_sessions
WHERE $org IS NULL OR org = $org
GROUP BY day
ORDER BY day
