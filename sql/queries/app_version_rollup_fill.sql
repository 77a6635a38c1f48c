-- app_version_rollup_fill: recompute the app_version_daily_rollup rows of org $org for the UTC
-- days of the registered frame `rollup_days` (day DATE), all within [$lo, $hi), from
-- user_sessions (the caller clears the same days first with app_version_rollup_clear), exactly
-- as the pre-rollup view app_version_daily computed them: per UTC day (floor of the epoch, so
-- any date is right), app and version, sessions and distinct users; app_users = distinct users
-- of the (day, app), any version, sessions without a version included. The start_time range
-- lets DuckDB skip every row group outside [$lo, $hi) (zone maps; sessions are stored roughly
-- in start order), so a checkpoint pays for its own days, not for the table.
-- Parameters: $org VARCHAR, $lo TIMESTAMPTZ, $hi TIMESTAMPTZ (UTC midnights).
INSERT INTO app_version_daily_rollup (org, day, app_id, app_version, sessions, users, app_users)
WITH base AS (
    SELECT
        org,
        DATE '1970-01-01' + CAST(floor(epoch_us(start_time) / 86400000000) AS INTEGER) AS day,
        app_id,
        app_version,
        user_id
    FROM user_sessions
    WHERE org = $org AND start_time >= $lo AND start_time < $hi
),
days AS MATERIALIZED (
    SELECT * FROM base WHERE day IN (SELECT day FROM rollup_days)
),
per_version AS (
    SELECT
        org, day, app_id, app_version,
        count(*)::BIGINT AS sessions,
        count(DISTINCT user_id)::BIGINT AS users
    FROM days
    WHERE app_version IS NOT NULL
    GROUP BY org, day, app_id, app_version
),
per_app AS (
    SELECT org, day, app_id, count(DISTINCT user_id)::BIGINT AS app_users
    FROM days
    GROUP BY org, day, app_id
)
SELECT p.org, p.day, p.app_id, p.app_version, p.sessions, p.users, a.app_users
FROM per_version AS p
JOIN per_app AS a
    ON a.org = p.org AND a.day = p.day AND a.app_id IS NOT DISTINCT FROM p.app_id
