-- View app_versions: one row per (org, app_id, app_version) seen in user_sessions, with a
-- version-aware sort key and where the version stands against the latest release of its app.
--
-- Sort key: the leading numeric release ('v' prefix allowed) with each component zero-padded to
-- 12 digits and joined by '.', then '#', then '1' for a release or '0' + the lower-cased
-- pre-release label (numeric dot-parts zero-padded; build metadata after '+' ignored). So
-- 1.9 < 1.10, 1.2 < 1.2.1, 2.0-alpha < 2.0-beta < 2.0-beta.2 < 2.0-beta.10 < 2.0 in plain
-- string order. Text that does not start with a number gets a NULL key and is never "latest";
-- anything after the number, newlines included ((?s)), is a pre-release label, so a malformed
-- value such as '2.0 "beta"<newline>hotfix' can never become an app's latest release.
--
-- Columns:
--   org                VARCHAR  organisation label
--   app_id             VARCHAR  API appId (NULL groups sessions without one)
--   app_version        VARCHAR  API appVersion as sent
--   version_key        VARCHAR  sort key described above (NULL when not a version number)
--   is_prerelease      BOOLEAN  the version carries a pre-release label (e.g. 2.0-beta)
--   latest_release     VARCHAR  the app's highest non-pre-release version seen (NULL if none)
--   is_latest_release  BOOLEAN  this version is latest_release
--   is_outdated        BOOLEAN  this version sorts below latest_release (NULL when either key
--                               is unknown); a pre-release of a newer version is not outdated
CREATE OR REPLACE VIEW app_versions AS
WITH distinct_versions AS (
    SELECT DISTINCT org, app_id, app_version
    FROM user_sessions
    WHERE app_version IS NOT NULL
),
parts AS (
    SELECT
        org,
        app_id,
        app_version,
        regexp_extract(app_version, '^[vV]?([0-9]+(\.[0-9]+)*)', 1) AS release_part,
        ltrim(split_part(
            regexp_extract(app_version, '(?s)^[vV]?[0-9]+(\.[0-9]+)*(.*)$', 2), '+', 1), '-._ ')
            AS pre_part
    FROM distinct_versions
),
keyed AS (
    SELECT
        org,
        app_id,
        app_version,
        release_part <> '' AND pre_part <> '' AS is_prerelease,
        CASE WHEN release_part <> '' THEN
            array_to_string(
                list_transform(string_split(release_part, '.'), lambda c: lpad(c, 12, '0')),
                '.')
            || '#'
            || CASE WHEN pre_part = '' THEN '1' ELSE '0' || array_to_string(
                list_transform(string_split(lower(pre_part), '.'),
                    lambda p: CASE WHEN regexp_full_match(p, '[0-9]+')
                        THEN lpad(p, 12, '0') ELSE p END),
                '.') END
        END AS version_key
    FROM parts
),
latest AS (
    SELECT org, app_id, arg_max(app_version, version_key) AS latest_release,
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
