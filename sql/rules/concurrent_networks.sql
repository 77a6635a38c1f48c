-- Rule concurrent_networks: two sessions of one user running at the same time from different
-- networks (view concurrent_sessions: overlapping sessions from different canonical IPs, with
-- its open-session rule), where the two addresses are also in different /24 (v4) or /64 (v6)
-- networks, graded by the distance between them.
-- Why it matters: one trader at two desks on one network is normal (a phone and a desktop);
-- the same account live from two networks at once, far apart, is shared credentials.
-- Distance: great-circle km between the ip_geo locations when a City database placed both
-- (else unknown: the rule still runs without GeoIP files).
-- Thresholds: none as settings; grades: >= 500 km high, >= 50 km medium, closer or unknown low.
-- Parameters: $org; $since_id: only pairs with a session of id >= $since_id.
-- Key: '<session id>-<other session id>'.
-- Returns the finding columns: severity, finding_key, user_ids, session_ids, first_seen,
-- last_seen, summary, evidence (JSON text).
WITH pairs AS (
    SELECT c.*, a.ip_network, b.ip_network AS other_ip_network
    FROM concurrent_sessions AS c
    JOIN user_sessions AS a ON a.org = c.org AND a.id = c.session_id
    JOIN user_sessions AS b ON b.org = c.org AND b.id = c.other_session_id
    WHERE c.org = $org
        AND (c.session_id >= $since_id OR c.other_session_id >= $since_id)
        AND a.ip_network IS DISTINCT FROM b.ip_network
),
measured AS (
    SELECT
        p.*,
        ga.country, ga.city, gb.country AS other_country, gb.city AS other_city,
        great_circle_km(ga.latitude, ga.longitude, gb.latitude, gb.longitude) AS distance_km
    FROM pairs AS p
    LEFT JOIN ip_geo AS ga ON ga.ip = p.ip
    LEFT JOIN ip_geo AS gb ON gb.ip = p.other_ip
)
SELECT
    CASE WHEN m.distance_km >= 500 THEN 'high' WHEN m.distance_km >= 50 THEN 'medium'
        ELSE 'low' END AS severity,
    CAST(m.session_id AS VARCHAR) || '-' || CAST(m.other_session_id AS VARCHAR) AS finding_key,
    [m.user_id] AS user_ids,
    [m.session_id, m.other_session_id] AS session_ids,
    m.start_time AS first_seen,
    m.overlap_end AS last_seen,
    format('{} had two sessions at once from {} and {}{} for {} minutes.',
        finding_user_label(m.user_name, m.user_id), m.ip, m.other_ip,
        CASE WHEN m.distance_km IS NULL THEN ''
            ELSE ' (' || CAST(CAST(round(m.distance_km) AS BIGINT) AS VARCHAR) || ' km apart)'
        END,
        CAST(round(m.overlap_seconds / 60) AS BIGINT)) AS summary,
    CAST(json_object(
        'ip', m.ip, 'other_ip', m.other_ip,
        'network', m.ip_network, 'other_network', m.other_ip_network,
        'country', m.country, 'other_country', m.other_country,
        'city', m.city, 'other_city', m.other_city,
        'distance_km', round(m.distance_km, 1),
        'overlap_seconds', m.overlap_seconds, 'still_open', m.still_open
    ) AS VARCHAR) AS evidence
FROM measured AS m
