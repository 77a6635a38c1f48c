-- Rule new_app_version: an app and version that is unknown (no app id, no version, or a
-- version that does not start with a number: macro version_key is NULL, i.e. its release part,
-- macro version_release_part, is empty: the test used here, without expanding the whole key
-- macro twice, about 13 ms of planning per evaluation), or brand-new: first
-- seen in the organisation within the last N days of the data (before its newest session
-- start; never the local clock) and after the organisation's learning period (so the first
-- ingest does not call everything new).
-- Why it matters: a new build of a trading app, or a client nobody recognises, is where
-- automation, modified clients and credential-stuffing tools show up first.
-- Thresholds (settings -> parameters): findings_new_app_days
--   (SESSION_AUDIT_FINDINGS_NEW_APP_DAYS, default 7) -> $new_app_days;
--   findings_learning_days (SESSION_AUDIT_FINDINGS_LEARNING_DAYS, default 14) -> $learning_days
-- Severity: low for unknown, info for brand-new.
-- Parameters: $org; $since_id: only app/versions used by a session of id >= $since_id.
-- Key: '<app id>/<version>' (missing parts as '(none)').
-- session_ids: the first session with it; user_ids: up to 20 of its users.
-- Returns the finding columns: severity, finding_key, user_ids, session_ids, first_seen,
-- last_seen, summary, evidence (JSON text).
WITH horizon AS (
    SELECT min(start_time) AS org_first, max(start_time) AS newest
    FROM user_sessions WHERE org = $org
),
candidates AS (
    SELECT
        coalesce(app_id, '(none)') AS app_key, coalesce(app_version, '(none)') AS
            version_key_text,
        app_id IS NULL OR app_version IS NULL OR version_release_part(app_version) = ''
            AS unknown
    FROM (
        SELECT DISTINCT app_id, app_version
        FROM user_sessions WHERE org = $org AND id >= $since_id
    )
),
seen_before AS (
    -- known app/versions used before the brand-new period: they cannot be brand-new, so only
    -- the unknown and the possibly brand-new ones are aggregated below. days_between falls as
    -- the start grows, so "some session more than N days before the newest" is "the first
    -- one is": one small aggregate per app/version, the threshold compared once per group
    SELECT f.app_key, f.version_key_text
    FROM (
        SELECT coalesce(app_id, '(none)') AS app_key,
            coalesce(app_version, '(none)') AS version_key_text, min(start_time) AS first_start
        FROM user_sessions
        WHERE org = $org
        GROUP BY 1, 2
    ) AS f, horizon AS h
    WHERE days_between(f.first_start, h.newest) > $new_app_days
),
reportable AS (
    SELECT c.app_key, c.version_key_text
    FROM candidates AS c
    ANTI JOIN seen_before AS b
        ON b.app_key = c.app_key AND b.version_key_text = c.version_key_text
    UNION
    SELECT app_key, version_key_text FROM candidates WHERE unknown
),
firsts AS (
    SELECT
        coalesce(s.app_id, '(none)') AS app_key,
        coalesce(s.app_version, '(none)') AS version_key_text,
        any_value(s.app_id) AS app_id, any_value(s.app_version) AS app_version,
        min({'t': s.start_time, 'id': s.id}) AS f, max(s.start_time) AS last_seen,
        count(*) AS sessions, count(DISTINCT s.user_id) AS users,
        list_sort(list(DISTINCT s.user_id))[1:20] AS user_ids
    FROM user_sessions AS s
    SEMI JOIN reportable AS c
        ON c.app_key = coalesce(s.app_id, '(none)')
        AND c.version_key_text = coalesce(s.app_version, '(none)')
    WHERE s.org = $org
    GROUP BY 1, 2
),
classified AS (
    SELECT f.*,
        f.app_id IS NULL OR f.app_version IS NULL OR version_release_part(f.app_version) = ''
            AS unknown,
        days_between((f.f).t, h.newest) <= $new_app_days
            AND days_between(h.org_first, (f.f).t) >= $learning_days AS brand_new,
        days_between(h.org_first, (f.f).t) AS org_days
    FROM firsts AS f, horizon AS h
)
SELECT
    CASE WHEN unknown THEN 'low' ELSE 'info' END AS severity,
    app_key || '/' || version_key_text AS finding_key,
    user_ids,
    [(f).id] AS session_ids,
    (f).t AS first_seen,
    last_seen,
    format('{} app {} version {}: first seen {}, {} session(s) by {} user(s).',
        CASE WHEN unknown THEN 'Unknown' ELSE 'New' END, app_key, version_key_text,
        strftime((f).t, '%Y-%m-%d %H:%M UTC'), sessions, users) AS summary,
    CAST(json_object(
        'app_id', app_id, 'app_version', app_version, 'unknown', unknown,
        'brand_new', brand_new, 'sessions', sessions, 'users', users,
        'days_after_org_first', round(org_days, 1), 'new_app_days', $new_app_days
    ) AS VARCHAR) AS evidence
FROM classified
WHERE unknown OR brand_new
