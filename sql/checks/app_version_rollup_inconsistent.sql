-- app_version_rollup_inconsistent: a row of app_version_daily_rollup that differs from a
-- recomputation over user_sessions (missing, extra, stored twice, or other sessions/users/
-- app_users counts).
-- Returns (org, day, app_id, app_version, stored (sessions, users, app_users), recomputed).
WITH base AS MATERIALIZED (
    SELECT
        org,
        DATE '1970-01-01' + CAST(floor(epoch_us(start_time) / 86400000000) AS INTEGER) AS day,
        app_id,
        app_version,
        user_id
    FROM user_sessions
),
per_version AS (
    SELECT
        org, day, app_id, app_version,
        count(*)::BIGINT AS sessions,
        count(DISTINCT user_id)::BIGINT AS users
    FROM base
    WHERE app_version IS NOT NULL
    GROUP BY org, day, app_id, app_version
),
per_app AS (
    SELECT org, day, app_id, count(DISTINCT user_id)::BIGINT AS app_users
    FROM base
    GROUP BY org, day, app_id
),
recomputed AS (
    SELECT p.org, p.day, p.app_id, p.app_version, p.sessions, p.users, a.app_users
    FROM per_version AS p
    JOIN per_app AS a
        ON a.org = p.org AND a.day = p.day AND a.app_id IS NOT DISTINCT FROM p.app_id
),
rollup_rows AS (
    SELECT
        *,
        count(*) OVER (PARTITION BY org, day, app_id, app_version) AS copies
    FROM app_version_daily_rollup
)
SELECT
    coalesce(r.org, c.org) AS org,
    coalesce(r.day, c.day) AS day,
    coalesce(r.app_id, c.app_id) AS app_id,
    coalesce(r.app_version, c.app_version) AS app_version,
    CASE WHEN r.org IS NOT NULL THEN [r.sessions, r.users, r.app_users] END AS stored,
    CASE WHEN c.org IS NOT NULL THEN [c.sessions, c.users, c.app_users] END AS recomputed
FROM rollup_rows AS r
FULL OUTER JOIN recomputed AS c
    ON c.org = r.org
    AND c.day = r.day
    AND c.app_id IS NOT DISTINCT FROM r.app_id
    AND c.app_version = r.app_version
WHERE r.org IS NULL
    OR c.org IS NULL
    OR r.copies > 1
    OR [r.sessions, r.users, r.app_users] IS DISTINCT FROM [c.sessions, c.users, c.app_users]
ORDER BY org, day, app_id, app_version
