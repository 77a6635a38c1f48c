-- View app_versions: one row per (org, app_id, app_version) seen in user_sessions, with a
-- version-aware sort key and where the version stands against the latest release of its app.
--
-- Sort key: macro version_key (sql/macros/version_key.sql), the one version order of every view:
-- numeric components compared as integers of any length (5.20250301120000 < 5.20250301120001,
-- 1.9 < 1.10), trailing .0 components not significant (2.0 == 2.0.0), a pre-release below its
-- release (2.0-beta < 2.0, 2.1.0-rc1 < 2.1; 2.0-alpha < 2.0-beta < 2.0-beta.2 < 2.0-beta.10),
-- build metadata after '+' ignored; plain string order of the key is the version order. Text
-- that does not start with a number gets a NULL key and is never "latest"; anything after the
-- number, newlines included, is a pre-release label, so a malformed value such as
-- '2.0 "beta"<newline>hotfix' can never become an app's latest release. Versions with equal keys
-- (2.0 and 2.0.0) are the same release: both are latest, neither is outdated.
--
-- Columns:
--   org                VARCHAR  organisation label
--   app_id             VARCHAR  API appId (NULL groups sessions without one)
--   app_version        VARCHAR  API appVersion as sent
--   version_key        VARCHAR  sort key described above (NULL when not a version number)
--   is_prerelease      BOOLEAN  the version carries a pre-release label (e.g. 2.0-beta)
--   latest_release     VARCHAR  the app's highest non-pre-release version seen (NULL if none;
--                               among equal keys the highest text, e.g. '2.0.0' over '2.0')
--   is_latest_release  BOOLEAN  this version is latest_release
--   is_outdated        BOOLEAN  this version sorts below latest_release (NULL when either key
--                               is unknown); a pre-release of a newer version is not outdated
CREATE OR REPLACE VIEW app_versions AS
WITH distinct_versions AS (
    SELECT DISTINCT org, app_id, app_version
    FROM user_sessions
    WHERE app_version IS NOT NULL
),
keyed AS (
    SELECT
        org,
        app_id,
        app_version,
        version_is_prerelease(app_version) AS is_prerelease,
        version_key(app_version) AS version_key
    FROM distinct_versions
),
latest AS (
    SELECT
        org,
        app_id,
        (max({'k': version_key, 'v': app_version})).v AS latest_release,
        max(version_key) AS latest_key
    FROM keyed
    WHERE NOT is_prerelease AND version_key IS NOT NULL
    GROUP BY org, app_id
)
SELECT
    k.org,
    k.app_id,
    k.app_version,
    k.version_key,
    k.is_prerelease,
    l.latest_release,
    coalesce(k.version_key = l.latest_key, FALSE) AS is_latest_release,
    k.version_key < l.latest_key AS is_outdated
FROM keyed AS k
LEFT JOIN latest AS l
    ON l.org = k.org AND l.app_id IS NOT DISTINCT FROM k.app_id
