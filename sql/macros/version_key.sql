-- Macros version_key(v), version_is_prerelease(v): the one version order of every view that
-- compares app versions (app_versions, and through it user_app_versions, app_version_usage,
-- app_version_daily and the report). Created with the views, before them.
--
-- version_key(v) VARCHAR: a key whose plain string order (byte order, as DuckDB and Python
-- compare text) is the version order; NULL when v does not start with a number ('v'/'V' prefix
-- allowed), so such text is never "latest" and never "outdated".
--   * release: the leading dotted numbers. Each component is compared as an integer of any
--     length (no truncation): leading zeros dropped, then written as <digits of its length>
--     <its length><digits>, so a longer number always sorts higher (5.20250301120000 <
--     5.20250301120001, 1.9 < 1.10). Trailing zero components are not significant
--     (2.0 == 2.0.0 == 2).
--   * then '#', then '1' for a release or '0' + the pre-release label: a pre-release sorts below
--     its release (2.0-beta < 2.0, 2.1.0-rc1 < 2.1) and above every lower release.
--   * the label (the text after the release, up to '+', separators '-', '.', '_', ' ' dropped)
--     is read as runs of digits (compared as integers, as above) and runs of letters (compared
--     lower-cased as text), numbers below words: alpha < beta < beta.2 < beta.10 < rc1 < rc2.
--     Punctuation and anything else in the label only marks the version as a pre-release, so a
--     malformed value such as '2.0 "beta"<newline>hotfix' is a pre-release of 2.0.
--   * build metadata ('+build') is ignored for order.
-- version_is_prerelease(v) BOOLEAN: v has a release and a non-empty label (see above).
CREATE OR REPLACE MACRO version_number_key(n) AS (
    length(CAST(length(n) AS VARCHAR)) || CAST(length(n) AS VARCHAR) || n
);
CREATE OR REPLACE MACRO version_release_part(v) AS (
    regexp_extract(v, '^[vV]?([0-9]+(\.[0-9]+)*)', 1)
);
CREATE OR REPLACE MACRO version_label_part(v) AS (
    ltrim(split_part(regexp_extract(v, '(?s)^[vV]?[0-9]+(\.[0-9]+)*(.*)$', 2), '+', 1), '-._ ')
);
CREATE OR REPLACE MACRO version_is_prerelease(v) AS (
    version_release_part(v) <> '' AND version_label_part(v) <> ''
);
CREATE OR REPLACE MACRO version_key(v) AS (
    CASE WHEN version_release_part(v) <> '' THEN
        array_to_string(
            list_transform(
                string_split(regexp_replace(version_release_part(v), '(\.0+)+$', ''), '.'),
                lambda c: version_number_key(CASE WHEN ltrim(c, '0') = '' THEN '0'
                    ELSE ltrim(c, '0') END)),
            '.')
        || '#'
        || CASE WHEN version_label_part(v) = '' THEN '1' ELSE '0' || array_to_string(
            list_transform(
                regexp_extract_all(lower(version_label_part(v)), '[0-9]+|\pL+'),
                lambda t: CASE WHEN regexp_full_match(t, '[0-9]+')
                    THEN version_number_key(CASE WHEN ltrim(t, '0') = '' THEN '0'
                        ELSE ltrim(t, '0') END)
                    ELSE t END),
            '.') END
    END
);
