-- View user_app_versions: per user and app, the version of the user's most recent session of
-- that app (ties on start_time broken by session id), i.e. what the user is "on" now.
--
-- Columns:
--   org             VARCHAR      organisation label
--   user_id         BIGINT       the user
--   user_name       VARCHAR      users.name (NULL when unknown)
--   app_id          VARCHAR      API appId
--   app_version     VARCHAR      version of the user's latest session of this app
--   version_key     VARCHAR      its sort key (see app_versions)
--   latest_release  VARCHAR      the app's latest release (see app_versions)
--   is_outdated     BOOLEAN      app_version sorts below latest_release
--   last_seen       TIMESTAMPTZ  start of that latest session
--   sessions        BIGINT       the user's sessions of this app, all versions
CREATE OR REPLACE VIEW user_app_versions AS
WITH latest_per_user AS (
    SELECT
        org,
        user_id,
        app_id,
        max({'t': start_time, 'id': id, 'v': app_version}) AS latest,
        count(*) AS sessions
    FROM user_sessions
    WHERE app_version IS NOT NULL
    GROUP BY org, user_id, app_id
)
SELECT
    l.org,
    l.user_id,
    u.name AS user_name,
    l.app_id,
    (l.latest).v AS app_version,
    v.version_key,
    v.latest_release,
    v.is_outdated,
    (l.latest).t AS last_seen,
    l.sessions
FROM latest_per_user AS l
JOIN app_versions AS v
    ON v.org = l.org AND v.app_id IS NOT DISTINCT FROM l.app_id AND v.app_version = (l.latest).v
LEFT JOIN users AS u
    ON u.org = l.org AND u.id = l.user_id
