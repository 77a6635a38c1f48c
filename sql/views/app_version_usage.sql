-- View app_version_usage: one row per (org, app_id, app_version) with usage counts, version-aware
-- ordering (ORDER BY app_id, version_key) and how many users are still on it although it is
-- outdated.
--
-- Columns:
--   org                VARCHAR      organisation label
--   app_id             VARCHAR      API appId
--   app_version        VARCHAR      API appVersion as sent
--   version_key        VARCHAR      version-aware sort key (see app_versions)
--   is_prerelease      BOOLEAN      carries a pre-release label
--   latest_release     VARCHAR      the app's latest release seen
--   is_latest_release  BOOLEAN      this is the latest release
--   is_outdated        BOOLEAN      sorts below the latest release
--   sessions           BIGINT       sessions with this version
--   users              BIGINT       distinct users who ever used it
--   current_users      BIGINT       users whose most recent session of the app is on it
--   outdated_users     BIGINT       current_users when is_outdated, else 0
--   first_seen         TIMESTAMPTZ  earliest session start with this version
--   last_seen          TIMESTAMPTZ  latest session start with this version
CREATE OR REPLACE VIEW app_version_usage AS
WITH usage AS (
    SELECT
        org,
        app_id,
        app_version,
        count(*) AS sessions,
        count(DISTINCT user_id) AS users,
        min(start_time) AS first_seen,
        max(start_time) AS last_seen
    FROM user_sessions
    WHERE app_version IS NOT NULL
    GROUP BY org, app_id, app_version
),
current AS (
    SELECT org, app_id, app_version, count(*) AS current_users
    FROM user_app_versions
    GROUP BY org, app_id, app_version
)
SELECT
    v.org,
    v.app_id,
    v.app_version,
    v.version_key,
    v.is_prerelease,
    v.latest_release,
    v.is_latest_release,
    v.is_outdated,
    u.sessions,
    u.users,
    coalesce(c.current_users, 0) AS current_users,
    CASE WHEN v.is_outdated THEN coalesce(c.current_users, 0) ELSE 0 END AS outdated_users,
    u.first_seen,
    u.last_seen
FROM app_versions AS v
JOIN usage AS u
    ON u.org = v.org AND u.app_id IS NOT DISTINCT FROM v.app_id AND u.app_version = v.app_version
LEFT JOIN current AS c
    ON c.org = v.org AND c.app_id IS NOT DISTINCT FROM v.app_id
    AND c.app_version = v.app_version
