-- View ip_activity: one row per IP address (per org) seen in user_sessions.
-- Aggregated first, then joined to ip_networks (computed once per distinct IP).
--
-- Columns:
--   org          VARCHAR      organisation label
--   ip_address   VARCHAR      IP text as sent by the API
--   ip_family    VARCHAR      'v4', 'v6', or NULL when the text is not an IP (see ip_networks)
--   ip_network   VARCHAR      '/24' network for v4, '/64' for v6 (see ip_networks)
--   users        BIGINT       distinct users who logged in from this IP
--   sessions     BIGINT       sessions started from this IP
--   open_sessions BIGINT      of those, sessions still open
--   first_seen   TIMESTAMPTZ  earliest session start from this IP
--   last_seen    TIMESTAMPTZ  latest session start from this IP
CREATE OR REPLACE VIEW ip_activity AS
WITH per_ip AS (
    SELECT
        org,
        ip_address,
        count(DISTINCT user_id) AS users,
        count(*) AS sessions,
        count(*) FILTER (WHERE end_time IS NULL) AS open_sessions,
        min(start_time) AS first_seen,
        max(start_time) AS last_seen
    FROM user_sessions
    WHERE ip_address IS NOT NULL
    GROUP BY org, ip_address
)
SELECT
    p.org,
    p.ip_address,
    n.ip_family,
    n.ip_network,
    p.users,
    p.sessions,
    p.open_sessions,
    p.first_seen,
    p.last_seen
FROM per_ip AS p
JOIN ip_networks AS n
    ON n.org = p.org AND n.ip_address = p.ip_address
