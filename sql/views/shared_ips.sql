-- View shared_ips: IP addresses, and /24 (v4) or /64 (v6) networks, from which two or more
-- distinct users logged in: the account-sharing signal. One row per shared IP (kind 'ip') and
-- one per shared network (kind 'network'); a shared IP also makes its network shared.
--
-- Columns:
--   org          VARCHAR      organisation label
--   kind         VARCHAR      'ip' or 'network'
--   address      VARCHAR      the IP text (kind 'ip') or the network (kind 'network')
--   ip_family    VARCHAR      'v4', 'v6', or NULL for an IP text that is not an IP
--   users        BIGINT       distinct users (>= 2)
--   user_ids     BIGINT[]     those users, ascending
--   ip_count     BIGINT       distinct IP texts behind the row (1 for kind 'ip')
--   sessions     BIGINT       sessions started from the IP / network
--   first_seen   TIMESTAMPTZ  earliest session start
--   last_seen    TIMESTAMPTZ  latest session start
--   first_shared TIMESTAMPTZ  when the second user first arrived: the second-earliest of the
--                             users' first session starts there
CREATE OR REPLACE VIEW shared_ips AS
WITH per_ip_user AS MATERIALIZED (
    -- One row per (IP, user): the only pass over user_sessions.
    SELECT
        s.org,
        s.ip_address,
        s.user_id,
        count(*) AS sessions,
        min(s.start_time) AS first_seen,
        max(s.start_time) AS last_seen
    FROM user_sessions AS s
    WHERE s.ip_address IS NOT NULL
    GROUP BY s.org, s.ip_address, s.user_id
),
with_network AS (
    SELECT p.*, n.ip_family, n.ip_network
    FROM per_ip_user AS p
    JOIN ip_networks AS n
        ON n.org = p.org AND n.ip_address = p.ip_address
),
shared_ip_keys AS (
    SELECT org, ip_address
    FROM with_network
    GROUP BY org, ip_address
    HAVING count(*) >= 2
),
shared_network_keys AS (
    SELECT org, ip_network
    FROM with_network
    WHERE ip_network IS NOT NULL
    GROUP BY org, ip_network
    HAVING count(DISTINCT user_id) >= 2
),
ip_level AS (
    -- Lists are built for shared IPs only.
    SELECT
        w.org,
        'ip' AS kind,
        w.ip_address AS address,
        any_value(w.ip_family) AS ip_family,
        list_sort(list(w.user_id)) AS user_ids,
        1::BIGINT AS ip_count,
        sum(w.sessions)::BIGINT AS sessions,
        min(w.first_seen) AS first_seen,
        max(w.last_seen) AS last_seen,
        list_sort(list(w.first_seen))[2] AS first_shared
    FROM with_network AS w
    SEMI JOIN shared_ip_keys AS k
        ON k.org = w.org AND k.ip_address = w.ip_address
    GROUP BY w.org, w.ip_address
),
network_rows AS (
    SELECT w.*
    FROM with_network AS w
    SEMI JOIN shared_network_keys AS k
        ON k.org = w.org AND k.ip_network = w.ip_network
),
network_users AS (
    SELECT
        org,
        ip_network,
        any_value(ip_family) AS ip_family,
        user_id,
        sum(sessions) AS sessions,
        min(first_seen) AS first_seen,
        max(last_seen) AS last_seen
    FROM network_rows
    GROUP BY org, ip_network, user_id
),
network_ips AS (
    SELECT org, ip_network, count(DISTINCT ip_address) AS ip_count
    FROM network_rows
    GROUP BY org, ip_network
),
network_level AS (
    SELECT
        u.org,
        'network' AS kind,
        u.ip_network AS address,
        any_value(u.ip_family) AS ip_family,
        list_sort(list(u.user_id)) AS user_ids,
        any_value(i.ip_count)::BIGINT AS ip_count,
        sum(u.sessions)::BIGINT AS sessions,
        min(u.first_seen) AS first_seen,
        max(u.last_seen) AS last_seen,
        list_sort(list(u.first_seen))[2] AS first_shared
    FROM network_users AS u
    JOIN network_ips AS i
        ON i.org = u.org AND i.ip_network = u.ip_network
    GROUP BY u.org, u.ip_network
)
SELECT
    org, kind, address, ip_family, len(user_ids)::BIGINT AS users, user_ids,
    ip_count, sessions, first_seen, last_seen, first_shared
FROM ip_level
UNION ALL
SELECT
    org, kind, address, ip_family, len(user_ids)::BIGINT AS users, user_ids,
    ip_count, sessions, first_seen, last_seen, first_shared
FROM network_level
