-- View login_history: one row per login session, with the user's name, duration and the gap
-- since the same user's previous session. The window is partitioned by (org, user_id), so a
-- filter on user_id is pushed below it and one user's history reads only that user's rows.
--
-- Contract change (schema 4): the INTERVAL column `duration` is gone; durations are seconds
-- (DOUBLE) in `duration_seconds`, which every CSV/Parquet reader reads alike (an INTERVAL reads
-- as fixed_size_binary[12] in pyarrow and breaks polars). `ip` (canonical address) is new.
--
-- Columns:
--   org                  VARCHAR      organisation label
--   session_id           BIGINT       user_sessions.id
--   user_id              BIGINT       the user who logged in
--   user_name            VARCHAR      users.name (NULL when the user list has not been stored)
--   start_time           TIMESTAMPTZ  login time (UTC)
--   end_time             TIMESTAMPTZ  logout/expiry time; NULL while the session is open
--   is_open              BOOLEAN      end_time IS NULL
--   duration_seconds     DOUBLE       end_time - start_time in seconds (ms precision); NULL
--                                     while open; negative when end_time is before start_time
--                                     (anomaly 'end_before_start')
--   ip_address           VARCHAR      IP text as sent by the API
--   ip                   VARCHAR      its canonical address (NULL when the text is not an IP;
--                                     see ip_networks)
--   client_app_id        BIGINT       API clientAppId
--   app_id               VARCHAR      API appId
--   app_version          VARCHAR      API appVersion
--   previous_session_id  BIGINT       the user's session that started just before this one
--                                     (ties on start_time broken by id); NULL for the first
--   gap_seconds          DOUBLE       start_time minus the previous session's end_time, in
--                                     seconds; negative when the sessions overlap; NULL for the
--                                     first session or when the previous one is still open
--   anomalies            VARCHAR[]    anomaly codes stored by ingest (empty when none)
CREATE OR REPLACE VIEW login_history AS
SELECT
    s.org,
    s.id AS session_id,
    s.user_id,
    u.name AS user_name,
    s.start_time,
    s.end_time,
    s.end_time IS NULL AS is_open,
    (epoch_ms(s.end_time) - epoch_ms(s.start_time)) / 1000.0 AS duration_seconds,
    s.ip_address,
    s.ip,
    s.client_app_id,
    s.app_id,
    s.app_version,
    lag(s.id) OVER w AS previous_session_id,
    (epoch_ms(s.start_time) - epoch_ms(lag(s.end_time) OVER w)) / 1000.0 AS gap_seconds,
    s.anomalies
FROM user_sessions AS s
LEFT JOIN users AS u
    ON u.org = s.org AND u.id = s.user_id
WINDOW w AS (PARTITION BY s.org, s.user_id ORDER BY s.start_time, s.id)
