-- View ip_activity: one row per IP address (per org) seen in user_sessions, by canonical address
-- (column ip, stored at ingest): every spelling of one address counts as that address, and text
-- that is not an IP address ('', 'unknown', junk) is left out (see ip_networks for it).
--
-- Columns:
--   org           VARCHAR      organisation label
--   ip            VARCHAR      canonical address (see ip_networks)
--   ip_family     VARCHAR      'v4' or 'v6'
--   ip_network    VARCHAR      the /24 (v4) or /64 (v6) network holding ip
--   ip_texts      VARCHAR[]    the distinct raw texts the API sent for it, ascending
--   users         BIGINT       distinct users who logged in from this IP
--   sessions      BIGINT       sessions started from this IP
--   open_sessions BIGINT       of those, sessions the API reports open (end_time NULL, however
--                              old; see data_horizon for how long they are assumed to run)
--   first_seen    TIMESTAMPTZ  earliest session start from this IP
--   last_seen     TIMESTAMPTZ  latest session start from this IP
CREATE OR REPLACE VIEW ip_activity AS
SELECT
    org,
    ip,
    any_value(ip_family) AS ip_family,
    any_value(ip_network) AS ip_network,
    list_sort(list(DISTINCT ip_address)) AS ip_texts,
    count(DISTINCT user_id) AS users,
    count(*) AS sessions,
    count(*) FILTER (WHERE end_time IS NULL) AS open_sessions,
    min(start_time) AS first_seen,
    max(start_time) AS last_seen
FROM user_sessions
WHERE ip IS NOT NULL
GROUP BY org, ip
