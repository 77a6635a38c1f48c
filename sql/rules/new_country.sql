-- Rule new_country: a user logs in from a country never seen for that user before, after a
-- learning period (the user's first located session is at least the learning period older).
-- Why it matters: traders log in from home and a few usual places; a new country is a new
-- person, a trip or a VPN, and worth a look once the user's habits are known.
-- One finding per user and country: the first session from it.
-- Threshold (setting -> parameter): findings_learning_days
--   (SESSION_AUDIT_FINDINGS_LEARNING_DAYS, default 14) -> $learning_days
-- Needs: ip_geo from a City database (skipped without one); only located sessions count.
-- Severity: medium.
-- Parameters: $org; $since_id: only countries first seen in a session with id >= $since_id.
-- Key: '<user id>:<country>'.
-- Returns the finding columns: severity, finding_key, user_ids, session_ids, first_seen,
-- last_seen, summary, evidence (JSON text).
WITH changed_users AS (
    SELECT DISTINCT user_id FROM user_sessions WHERE org = $org AND id >= $since_id
),
located AS (
    SELECT s.user_id, s.id, s.start_time, s.ip, g.country, g.city
    FROM user_sessions AS s
    JOIN ip_geo AS g ON g.ip = s.ip
    WHERE s.org = $org AND g.country IS NOT NULL
        AND s.user_id IN (SELECT user_id FROM changed_users)
),
user_first AS (
    SELECT user_id, min({'t': start_time, 'id': id}) AS f
    FROM located
    GROUP BY user_id
),
country_first AS (
    SELECT user_id, country, min({'t': start_time, 'id': id, 'ip': ip, 'city': city}) AS f,
        count(*) AS sessions
    FROM located
    GROUP BY user_id, country
),
known AS (
    -- the countries the user had used before the new one, with the last of those sessions
    SELECT c.user_id, c.country, list_sort(list(DISTINCT l.country)) AS before,
        max(l.start_time) AS last_before
    FROM country_first AS c
    JOIN located AS l
        ON l.user_id = c.user_id
        AND (l.start_time < (c.f).t OR (l.start_time = (c.f).t AND l.id < (c.f).id))
    -- only the firsts of new sessions are compared with the user's earlier ones
    WHERE (c.f).id >= $since_id
    GROUP BY c.user_id, c.country
)
SELECT
    'medium' AS severity,
    CAST(c.user_id AS VARCHAR) || ':' || c.country AS finding_key,
    [c.user_id] AS user_ids,
    [(c.f).id] AS session_ids,
    (c.f).t AS first_seen,
    (c.f).t AS last_seen,
    format('{} logged in from a new country, {} ({}), after {} days of sessions from {}.',
        finding_user_label(un.name, c.user_id), c.country, coalesce((c.f).city, '?'),
        CAST(floor(days_between((uf.f).t, (c.f).t)) AS BIGINT),
        array_to_string(k.before, ', ')) AS summary,
    CAST(json_object(
        'country', c.country, 'city', (c.f).city, 'ip', (c.f).ip,
        'known_countries', k.before,
        'history_days', round(days_between((uf.f).t, (c.f).t), 1),
        'learning_days', $learning_days
    ) AS VARCHAR) AS evidence
FROM country_first AS c
JOIN user_first AS uf ON uf.user_id = c.user_id
JOIN known AS k ON k.user_id = c.user_id AND k.country = c.country
LEFT JOIN users AS un ON un.org = $org AND un.id = c.user_id
WHERE (c.f).id >= $since_id
    AND days_between((uf.f).t, (c.f).t) >= $learning_days
