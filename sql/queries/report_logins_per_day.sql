-- report_logins_per_day: sessions started and distinct users per UTC day (report chart).
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
