-- View app_version_daily: per UTC day, app and version: sessions started and distinct users,
-- with the version's share of that day's users of the app (adoption over time).
--
-- Columns:
--   org            VARCHAR  organisation label
--   day            DATE     UTC day of the session start
--   app_id         VARCHAR  API appId
--   app_version    VARCHAR  API appVersion as sent
--   version_key    VARCHAR  version-aware sort key (see app_versions)
--   is_outdated    BOOLEAN  sorts below the app's latest release (as of all data)
--   sessions       BIGINT   sessions started that day with this version
--   users          BIGINT   distinct users with this version that day
--   app_users      BIGINT   distinct users of the app that day, any version
--   user_share     DOUBLE   users / app_users
CREATE OR REPLACE VIEW app_version_daily AS
WITH per_user AS (
    SELECT
        org,
        CAST(timezone('UTC', start_time) AS DATE) AS day,
        app_id,
        app_version,
        user_id,
        count(*) AS sessions
    FROM user_sessions
    WHERE app_version IS NOT NULL
    GROUP BY ALL
),
per_version AS (
    SELECT org, day, app_id, app_version, sum(sessions)::BIGINT AS sessions, count(*) AS users
    FROM per_user
    GROUP BY org, day, app_id, app_version
),
per_app AS (
    SELECT org, day, app_id, count(DISTINCT user_id) AS app_users
    FROM per_user
    GROUP BY org, day, app_id
)
SELECT
    p.org,
    p.day,
    p.app_id,
    p.app_version,
    v.version_key,
    v.is_outdated,
    p.sessions,
    p.users,
    a.app_users,
    p.users / a.app_users AS user_share
FROM per_version AS p
JOIN per_app AS a
    ON a.org = p.org AND a.day = p.day AND a.app_id IS NOT DISTINCT FROM p.app_id
JOIN app_versions AS v
    ON v.org = p.org AND v.app_id IS NOT DISTINCT FROM p.app_id AND v.app_version = p.app_version
