-- Rule impossible_travel: two consecutive located sessions of one user (ordered by start) whose
-- locations are further apart than anyone can travel in the time between their starts.
-- Why it matters: one person cannot log in from London and 40 minutes later from New York;
-- two people (shared or stolen credentials) or a VPN hop can.
-- Distance: great-circle km between the two ip_geo locations minus both accuracy radii (the
-- databases only know an address within that radius), never below 0. Time: start to start,
-- at least one minute. Fires when distance / time > the speed threshold.
-- Threshold (setting -> parameter): findings_travel_speed_kmh
--   (SESSION_AUDIT_FINDINGS_TRAVEL_SPEED_KMH, default 900 km/h, an airliner) -> $travel_speed_kmh
-- Needs: ip_geo from a City database (skipped without one). Sessions whose address the
-- database does not place are left out of the sequence.
-- Severity: high when the countries differ, else medium.
-- Parameters: $org; $since_id: only pairs whose later session has id >= $since_id (0: all).
-- Reads the variable session_audit_findings_window (window in sql/queries/findings.sql): only the
-- window's located sessions and each user's last one before it are put in sequence.
-- Key: '<earlier session id>-<later session id>'.
-- Returns the finding columns: severity, finding_key, user_ids, session_ids, first_seen,
-- last_seen, summary, evidence (JSON text).
WITH changed_users AS (
    SELECT DISTINCT user_id FROM user_sessions WHERE org = $org AND id >= $since_id
),
located AS (
    SELECT
        s.user_id, s.id, s.start_time, s.ip, g.country, g.city, g.latitude, g.longitude,
        coalesce(g.accuracy_radius, 0) AS radius
    FROM user_sessions AS s
    JOIN ip_geo AS g ON g.ip = s.ip
    WHERE s.org = $org
        AND g.latitude IS NOT NULL AND g.longitude IS NOT NULL
        AND s.user_id IN (SELECT user_id FROM changed_users)
),
sequence AS (
    -- the located sessions from the evaluation window's start on (variable
    -- session_audit_findings_window.since; NULL for a full evaluation: all of them), plus each
    -- user's last located session before it (an aggregate, no sort over the history)
    SELECT * FROM located
    WHERE getvariable('session_audit_findings_window').since IS NULL
        OR start_time >= getvariable('session_audit_findings_window').since
    UNION ALL
    SELECT user_id, (f).id, (f).start_time, (f).ip, (f).country, (f).city, (f).latitude,
        (f).longitude, (f).radius
    FROM (
        SELECT user_id,
            max({'start_time': start_time, 'id': id, 'ip': ip, 'country': country,
                 'city': city, 'latitude': latitude, 'longitude': longitude,
                 'radius': radius}) AS f
        FROM located
        WHERE start_time < getvariable('session_audit_findings_window').since
        GROUP BY user_id
    )
),
pairs AS (
    SELECT
        *,
        lag(id) OVER w AS prev_id,
        lag(start_time) OVER w AS prev_start,
        lag(ip) OVER w AS prev_ip,
        lag(country) OVER w AS prev_country,
        lag(city) OVER w AS prev_city,
        lag(latitude) OVER w AS prev_latitude,
        lag(longitude) OVER w AS prev_longitude,
        lag(radius) OVER w AS prev_radius
    FROM sequence
    WINDOW w AS (PARTITION BY user_id ORDER BY start_time, id)
),
measured AS (
    SELECT
        *,
        great_circle_km(prev_latitude, prev_longitude, latitude, longitude) AS distance_km,
        greatest(
            great_circle_km(prev_latitude, prev_longitude, latitude, longitude)
                - prev_radius - radius,
            0
        ) AS min_distance_km,
        greatest((epoch_ms(start_time) - epoch_ms(prev_start)) / 3600000.0, 1.0 / 60)
            AS hours
    FROM pairs
    WHERE prev_id IS NOT NULL AND id >= $since_id
)
SELECT
    CASE WHEN m.prev_country IS DISTINCT FROM m.country THEN 'high' ELSE 'medium' END
        AS severity,
    CAST(m.prev_id AS VARCHAR) || '-' || CAST(m.id AS VARCHAR) AS finding_key,
    [m.user_id] AS user_ids,
    [m.prev_id, m.id] AS session_ids,
    m.prev_start AS first_seen,
    m.start_time AS last_seen,
    format(
        '{} logged in from {} and {} minutes later from {}: {} km apart, {} km/h.',
        finding_user_label(u.name, m.user_id),
        coalesce(m.prev_city || ', ', '') || coalesce(m.prev_country, '?'),
        CAST(round(m.hours * 60) AS BIGINT),
        coalesce(m.city || ', ', '') || coalesce(m.country, '?'),
        CAST(round(m.distance_km) AS BIGINT),
        CAST(round(m.min_distance_km / m.hours) AS BIGINT)
    ) AS summary,
    CAST(json_object(
        'from_ip', m.prev_ip, 'to_ip', m.ip,
        'from_country', m.prev_country, 'to_country', m.country,
        'from_city', m.prev_city, 'to_city', m.city,
        'distance_km', round(m.distance_km, 1),
        'accuracy_radius_km', m.prev_radius + m.radius,
        'min_distance_km', round(m.min_distance_km, 1),
        'minutes', round(m.hours * 60, 1),
        'speed_kmh', round(m.min_distance_km / m.hours, 1),
        'threshold_kmh', $travel_speed_kmh
    ) AS VARCHAR) AS evidence
FROM measured AS m
LEFT JOIN users AS u ON u.org = $org AND u.id = m.user_id
WHERE m.min_distance_km / m.hours > $travel_speed_kmh
