-- app_version_rollup_all_days: every (org, UTC day) a full rebuild of app_version_daily_rollup
-- recomputes: the days with a stored session, plus the days with a rollup row (so that rows
-- left without sessions are cleared).
SELECT DISTINCT
    org,
    DATE '1970-01-01' + CAST(floor(epoch_us(start_time) / 86400000000) AS INTEGER) AS day
FROM user_sessions
UNION
SELECT org, day
FROM app_version_daily_rollup
ORDER BY org, day
