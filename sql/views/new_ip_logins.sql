-- View new_ip_logins: the sessions in which a user first logged in from an IP address, marking
-- those that were also the user's first login from that /24 (v4) or /64 (v6) network.
-- Addresses are compared by their canonical form (column ip, stored at ingest): another
-- spelling of a known address is not new, and text that is not an IP address ('', 'unknown',
-- junk) never counts as an IP. Built from aggregates (earliest session per user and IP, then per
-- user and network), not from correlated subqueries. "First" orders by start_time, ties broken
-- by session id.
--
-- Columns:
--   org                 VARCHAR      organisation label
--   session_id          BIGINT       the session that brought the new IP
--   user_id             BIGINT       the user
--   user_name           VARCHAR      users.name (NULL when unknown)
--   start_time          TIMESTAMPTZ  when the session started
--   ip_address          VARCHAR      the IP text that session carried, as the API sent it
--   ip                  VARCHAR      the canonical address new to this user
--   ip_family           VARCHAR      'v4' or 'v6'
--   ip_network          VARCHAR      its network
--   new_network         BOOLEAN      TRUE when the user had never logged in from this network
--                                    before (FALSE: a new IP in a known network)
--   first_user_session  BOOLEAN      TRUE for the user's very first session (everything is new
--                                    then: filter it out to see changes only)
CREATE OR REPLACE VIEW new_ip_logins AS
WITH first_per_ip AS (
    SELECT
        org,
        user_id,
        ip,
        any_value(ip_family) AS ip_family,
        any_value(ip_network) AS ip_network,
        min({'t': start_time, 'id': id, 'raw': ip_address}) AS first_login
    FROM user_sessions
    WHERE ip IS NOT NULL
    GROUP BY org, user_id, ip
),
first_per_network AS (
    SELECT org, user_id, ip_network, min(first_login) AS first_login
    FROM first_per_ip
    GROUP BY org, user_id, ip_network
),
first_per_user AS (
    SELECT org, user_id, min({'t': start_time, 'id': id}) AS first_login
    FROM user_sessions
    GROUP BY org, user_id
)
SELECT
    w.org,
    (w.first_login).id AS session_id,
    w.user_id,
    u.name AS user_name,
    (w.first_login).t AS start_time,
    (w.first_login).raw AS ip_address,
    w.ip,
    w.ip_family,
    w.ip_network,
    fn.first_login IS NOT NULL AS new_network,
    (fu.first_login).id = (w.first_login).id AS first_user_session
FROM first_per_ip AS w
LEFT JOIN first_per_network AS fn
    ON fn.org = w.org AND fn.user_id = w.user_id AND fn.ip_network = w.ip_network
    AND fn.first_login = w.first_login
JOIN first_per_user AS fu
    ON fu.org = w.org AND fu.user_id = w.user_id
LEFT JOIN users AS u
    ON u.org = w.org AND u.id = w.user_id
