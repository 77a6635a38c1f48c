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
--   app_users      BIGINT   distinct users of the app that day, any version, sessions without
--                           a version included
--   user_share     DOUBLE   users / app_users
--
-- Reads the table app_version_daily_rollup (schema 6), which the ingest keeps exact in each
-- checkpoint's transaction by recomputing the days it changes from user_sessions; the check
-- app_version_rollup_inconsistent compares it with a recomputation. version_key and
-- is_outdated are those of the view app_versions, computed here over the rollup's distinct
-- (org, app, version) rows, which are exactly the distinct versions of user_sessions (every
-- session with a version is counted in one rollup row): the same macros and the same latest
-- rule (highest key of a non-pre-release version with a key), without reading every session.
-- 10M sessions: about 10 ms (8,760 rows), against 1.3-2.8 s when computed from user_sessions.
CREATE OR REPLACE VIEW app_version_daily AS
WITH keyed AS (
    SELECT
        org,
        app_id,
        app_version,
        version_is_prerelease(app_version) AS is_prerelease,
        version_key(app_version) AS version_key
    FROM (SELECT DISTINCT org, app_id, app_version FROM app_version_daily_rollup)
),
latest AS (
    SELECT org, app_id, max(version_key) AS latest_key
    FROM keyed
    WHERE NOT is_prerelease AND version_key IS NOT NULL
    GROUP BY org, app_id
)
SELECT
    r.org,
    r.day,
    r.app_id,
    r.app_version,
    k.version_key,
    k.version_key < l.latest_key AS is_outdated,
    r.sessions,
    r.users,
    r.app_users,
    r.users / r.app_users AS user_share
FROM app_version_daily_rollup AS r
JOIN keyed AS k
    ON k.org = r.org AND k.app_id IS NOT DISTINCT FROM r.app_id AND k.app_version = r.app_version
LEFT JOIN latest AS l
    ON l.org = r.org AND l.app_id IS NOT DISTINCT FROM r.app_id
