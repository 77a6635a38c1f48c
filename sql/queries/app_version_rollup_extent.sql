-- app_version_rollup_extent: per org, the UTC days a full rebuild of app_version_daily_rollup
-- covers: from the first day with a stored session (or a rollup row) to the day after the last.
-- Orgs that have rollup rows but no sessions are included, so their stale rows are cleared.
WITH days AS (
    SELECT
        org,
        DATE '1970-01-01' + CAST(floor(epoch_us(min(start_time)) / 86400000000) AS INTEGER)
            AS lo_day,
        DATE '1970-01-01' + CAST(floor(epoch_us(max(start_time)) / 86400000000) AS INTEGER)
            AS last_day
    FROM user_sessions
    GROUP BY org
    UNION ALL
    SELECT org, min(day), max(day)
    FROM app_version_daily_rollup
    GROUP BY org
)
SELECT org, min(lo_day) AS lo_day, max(last_day) + 1 AS hi_day
FROM days
GROUP BY org
ORDER BY org
