-- View shared_ips: IP addresses, and /24 (v4) or /64 (v6) networks, from which two or more
-- distinct users logged in: the account-sharing signal. One row per shared IP (kind 'ip') and
-- one per shared network (kind 'network'); a shared IP also makes its network shared.
-- Addresses are compared by their canonical form (column ip, stored at ingest), so
-- '2001:db8::1' and '2001:DB8:0:0:0:0:0:1' are one address and '::ffff:1.2.3.4' is 1.2.3.4;
-- text that is not an IP address ('', 'unknown', junk) is never an IP here.
--
-- Columns:
--   org          VARCHAR      organisation label
--   kind         VARCHAR      'ip' or 'network'
--   address      VARCHAR      the canonical IP (kind 'ip') or the network (kind 'network')
--   ip_family    VARCHAR      'v4' or 'v6'
--   users        BIGINT       distinct users (>= 2)
--   user_ids     BIGINT[]     those users, ascending
--   ip_count     BIGINT       distinct IP addresses behind the row (1 for kind 'ip')
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
        s.ip,
        any_value(s.ip_family) AS ip_family,
        any_value(s.ip_network) AS ip_network,
        s.user_id,
        count(*) AS sessions,
        min(s.start_time) AS first_seen,
        max(s.start_time) AS last_seen
    FROM user_sessions AS s
    WHERE s.ip IS NOT NULL
    GROUP BY s.org, s.ip, s.user_id
),
shared_ip_keys AS (
    SELECT org, ip
    FROM per_ip_user
    GROUP BY org, ip
    HAVING count(*) >= 2
),
shared_network_keys AS (
    SELECT org, ip_network
    FROM per_ip_user
    GROUP BY org, ip_network
    HAVING count(DISTINCT user_id) >= 2
),
ip_level AS (
    -- Lists are built for shared IPs only.
    SELECT
        w.org,
        'ip' AS kind,
        w.ip AS address,
        any_value(w.ip_family) AS ip_family,
        list_sort(list(w.user_id)) AS user_ids,
        1::BIGINT AS ip_count,
        sum(w.sessions)::BIGINT AS sessions,
        min(w.first_seen) AS first_seen,
        max(w.last_seen) AS last_seen,
        list_sort(list(w.first_seen))[2] AS first_shared
    FROM per_ip_user AS w
    SEMI JOIN shared_ip_keys AS k
        ON k.org = w.org AND k.ip = w.ip
    GROUP BY w.org, w.ip
),
network_rows AS (
    SELECT w.*
    FROM per_ip_user AS w
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
    SELECT org, ip_network, count(DISTINCT ip) AS ip_count
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
