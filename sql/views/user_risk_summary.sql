-- View user_risk_summary: one row per user (from users, user_sessions or user_session_stats)
-- with the signals compliance staff look at first. IP addresses are counted and compared by
-- canonical address (column ip, stored at ingest); text that is not an IP address ('',
-- 'unknown', junk) is never an IP, so it never raises 'shared_ip'.
--
-- Columns:
--   org                    VARCHAR      organisation label
--   user_id                BIGINT       the user
--   user_name              VARCHAR      users.name (NULL when unknown)
--   status                 VARCHAR      users.status
--   failed_passwords       INTEGER      failedPasswords of the latest user_session_stats
--                                       observation (by observed_at, then run_id); NULL if none
--   stats_observed_at      TIMESTAMPTZ  when that observation was made
--   sessions               BIGINT       sessions stored for the user
--   open_sessions          BIGINT       of those, reported open by the API (end_time NULL,
--                                       however old; see data_horizon for the open-session rule)
--   ip_count               BIGINT       distinct IP addresses (canonical) the user logged in from
--   network_count          BIGINT       distinct /24 or /64 networks among them
--   shared_ip_count        BIGINT       of the user's IPs, those also used by another user
--   concurrency_incidents  BIGINT       overlapping session pairs from different IPs
--                                       (rows of concurrent_sessions)
--   first_login            TIMESTAMPTZ  earliest session start
--   last_login             TIMESTAMPTZ  latest session start
--   risk_flags             VARCHAR[]    'failed_passwords' (> 0), 'shared_ip', 'concurrent_sessions'
--                                       for the signals present; empty when none
CREATE OR REPLACE VIEW user_risk_summary AS
WITH session_stats AS (
    SELECT
        org,
        user_id,
        count(*) AS sessions,
        count(*) FILTER (WHERE end_time IS NULL) AS open_sessions,
        count(DISTINCT ip) AS ip_count,
        count(DISTINCT ip_network) AS network_count,
        min(start_time) AS first_login,
        max(start_time) AS last_login
    FROM user_sessions
    GROUP BY org, user_id
),
user_ips AS (
    SELECT DISTINCT org, user_id, ip
    FROM user_sessions
    WHERE ip IS NOT NULL
),
ip_users AS (
    SELECT org, ip, count(*) AS users
    FROM user_ips
    GROUP BY org, ip
),
ip_signals AS (
    SELECT
        ui.org,
        ui.user_id,
        count(*) FILTER (WHERE iu.users >= 2) AS shared_ip_count
    FROM user_ips AS ui
    JOIN ip_users AS iu
        ON iu.org = ui.org AND iu.ip = ui.ip
    GROUP BY ui.org, ui.user_id
),
latest_stats AS (
    SELECT
        org,
        user_id,
        max({'at': observed_at, 'run': run_id, 'failed': failed_passwords}) AS latest
    FROM user_session_stats
    GROUP BY org, user_id
),
incidents AS (
    SELECT org, user_id, count(*) AS concurrency_incidents
    FROM concurrent_sessions
    GROUP BY org, user_id
),
all_users AS (
    SELECT org, id AS user_id FROM users
    UNION
    SELECT org, user_id FROM session_stats
    UNION
    SELECT org, user_id FROM latest_stats
),
joined AS (
    SELECT
        a.org,
        a.user_id,
        u.name AS user_name,
        u.status,
        (ls.latest).failed AS failed_passwords,
        (ls.latest).at AS stats_observed_at,
        coalesce(s.sessions, 0) AS sessions,
        coalesce(s.open_sessions, 0) AS open_sessions,
        coalesce(s.ip_count, 0) AS ip_count,
        coalesce(s.network_count, 0) AS network_count,
        coalesce(i.shared_ip_count, 0) AS shared_ip_count,
        coalesce(c.concurrency_incidents, 0) AS concurrency_incidents,
        s.first_login,
        s.last_login
    FROM all_users AS a
    LEFT JOIN users AS u ON u.org = a.org AND u.id = a.user_id
    LEFT JOIN session_stats AS s ON s.org = a.org AND s.user_id = a.user_id
    LEFT JOIN ip_signals AS i ON i.org = a.org AND i.user_id = a.user_id
    LEFT JOIN latest_stats AS ls ON ls.org = a.org AND ls.user_id = a.user_id
    LEFT JOIN incidents AS c ON c.org = a.org AND c.user_id = a.user_id
)
SELECT
    *,
    list_filter([
        CASE WHEN failed_passwords > 0 THEN 'failed_passwords' END,
        CASE WHEN shared_ip_count > 0 THEN 'shared_ip' END,
        CASE WHEN concurrency_incidents > 0 THEN 'concurrent_sessions' END
    ], lambda f: f IS NOT NULL) AS risk_flags
FROM joined
