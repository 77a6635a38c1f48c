-- Rule new_asn: a user logs in from a network (autonomous system, ASN) never seen for that user
-- before, after a learning period (the user's first session with an ASN is at least the
-- learning period older).
-- Why it matters: a user's home and mobile providers rarely change; a new ASN is a new
-- provider, a VPN, a hosting network or another person, once the habits are known.
-- One finding per user and ASN: the first session from it.
-- Threshold (setting -> parameter): findings_learning_days
--   (SESSION_AUDIT_FINDINGS_LEARNING_DAYS, default 14) -> $learning_days
-- Needs: ip_geo from an ASN database (skipped without one); only sessions with an ASN count.
-- Severity: low.
-- Parameters: $org; $since_id: only ASNs first seen in a session with id >= $since_id.
-- Key: '<user id>:AS<asn>'.
-- Returns the finding columns: severity, finding_key, user_ids, session_ids, first_seen,
-- last_seen, summary, evidence (JSON text).
WITH changed_users AS (
    SELECT DISTINCT user_id FROM user_sessions WHERE org = $org AND id >= $since_id
),
located AS (
    SELECT s.user_id, s.id, s.start_time, s.ip, g.asn, g.as_org
    FROM user_sessions AS s
    JOIN ip_geo AS g ON g.ip = s.ip
    WHERE s.org = $org AND g.asn IS NOT NULL
        AND s.user_id IN (SELECT user_id FROM changed_users)
),
user_first AS (
    SELECT user_id, min({'t': start_time, 'id': id}) AS f
    FROM located
    GROUP BY user_id
),
asn_first AS (
    SELECT user_id, asn, min({'t': start_time, 'id': id, 'ip': ip, 'as_org': as_org}) AS f
    FROM located
    GROUP BY user_id, asn
),
known AS (
    SELECT a.user_id, a.asn, list_sort(list(DISTINCT l.asn)) AS before
    FROM asn_first AS a
    JOIN located AS l
        ON l.user_id = a.user_id
        AND (l.start_time < (a.f).t OR (l.start_time = (a.f).t AND l.id < (a.f).id))
    -- only the firsts of new sessions are compared with the user's earlier ones
    WHERE (a.f).id >= $since_id
    GROUP BY a.user_id, a.asn
)
SELECT
    'low' AS severity,
    CAST(a.user_id AS VARCHAR) || ':AS' || CAST(a.asn AS VARCHAR) AS finding_key,
    [a.user_id] AS user_ids,
    [(a.f).id] AS session_ids,
    (a.f).t AS first_seen,
    (a.f).t AS last_seen,
    format('{} logged in from a new network, AS{} ({}), after {} days on {}.',
        finding_user_label(un.name, a.user_id), a.asn, coalesce((a.f).as_org, '?'),
        CAST(floor(days_between((uf.f).t, (a.f).t)) AS BIGINT),
        array_to_string(list_transform(k.before, lambda x: 'AS' || CAST(x AS VARCHAR)), ', '))
        AS summary,
    CAST(json_object(
        'asn', a.asn, 'as_org', (a.f).as_org, 'ip', (a.f).ip,
        'known_asns', k.before,
        'history_days', round(days_between((uf.f).t, (a.f).t), 1),
        'learning_days', $learning_days
    ) AS VARCHAR) AS evidence
FROM asn_first AS a
JOIN user_first AS uf ON uf.user_id = a.user_id
JOIN known AS k ON k.user_id = a.user_id AND k.asn = a.asn
LEFT JOIN users AS un ON un.org = $org AND un.id = a.user_id
WHERE (a.f).id >= $since_id
    AND days_between((uf.f).t, (a.f).t) >= $learning_days
