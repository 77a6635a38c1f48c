-- View concurrent_sessions: pairs of sessions of one user that overlap in time and come from
-- different IP addresses, compared by canonical address (column ip, stored at ingest): two
-- spellings of one address are the same IP, and a session whose IP text is not an IP address
-- ('', 'unknown', junk) or is missing is never part of a pair.
-- Open sessions follow the one rule of data_horizon (macro session_assumed_end): a session
-- the API still reports open (endTime NULL) counts as running from its start for at most
-- open_session_hours hours (setting SESSION_AUDIT_OPEN_SESSION_HOURS, default 24) and never
-- beyond the newest data of its organisation (newest start or end stored; never the local
-- clock), so the rows depend on the data only. Linear in the number of overlapping pairs:
-- sessions are numbered per user by start, an ASOF join finds the last session starting before
-- each session ends, and only the sessions in between are paired (no self-join over all of a
-- user's sessions).
--
-- Columns:
--   org              VARCHAR      organisation label
--   user_id          BIGINT       the user
--   user_name        VARCHAR      users.name (NULL when unknown)
--   session_id       BIGINT       the session that started first (ties: lower id)
--   other_session_id BIGINT       the overlapping session that started later
--   ip_address       VARCHAR      IP text of session_id as sent
--   other_ip_address VARCHAR      IP text of other_session_id as sent
--   ip               VARCHAR      canonical address of session_id
--   other_ip         VARCHAR      canonical address of other_session_id (different from ip)
--   start_time       TIMESTAMPTZ  start of session_id
--   end_time         TIMESTAMPTZ  end of session_id (NULL: open)
--   other_start_time TIMESTAMPTZ  start of other_session_id
--   other_end_time   TIMESTAMPTZ  end of other_session_id (NULL: open)
--   overlap_start    TIMESTAMPTZ  other_start_time
--   overlap_end      TIMESTAMPTZ  the earlier of the two (assumed) ends: an open session ends
--                                 at start + open_session_hours or the newest data, earlier one
--   overlap_seconds  DOUBLE       overlap_end - overlap_start in seconds
--   still_open       BOOLEAN      both sessions are open and the overlap reaches the newest
--                                 data (data_horizon.newest_data): it may be going on
CREATE OR REPLACE VIEW concurrent_sessions AS
WITH numbered AS (
    SELECT
        s.org,
        s.user_id,
        s.id,
        s.ip_address,
        s.ip,
        s.start_time,
        s.end_time,
        session_assumed_end(s.start_time, s.end_time, h.newest_data) AS effective_end,
        h.newest_data,
        row_number() OVER (PARTITION BY s.org, s.user_id ORDER BY s.start_time, s.id) AS n
    FROM user_sessions AS s
    JOIN data_horizon AS h
        ON h.org = s.org
),
starts AS (
    -- One row per distinct start per user: the highest number among sessions starting then.
    SELECT org, user_id, start_time, max(n) AS last_n
    FROM numbered
    GROUP BY org, user_id, start_time
),
reach AS (
    -- For each session, the number of the last session that starts before it ends.
    SELECT a.*, b.last_n
    FROM numbered AS a
    ASOF JOIN starts AS b
        ON a.org = b.org AND a.user_id = b.user_id AND a.effective_end > b.start_time
),
pairs AS (
    SELECT org, user_id, id, ip_address, ip, start_time, end_time, effective_end, newest_data,
        unnest(range(n + 1, last_n + 1)) AS other_n
    FROM reach
    WHERE last_n > n
)
SELECT
    p.org,
    p.user_id,
    u.name AS user_name,
    p.id AS session_id,
    o.id AS other_session_id,
    p.ip_address,
    o.ip_address AS other_ip_address,
    p.ip,
    o.ip AS other_ip,
    p.start_time,
    p.end_time,
    o.start_time AS other_start_time,
    o.end_time AS other_end_time,
    o.start_time AS overlap_start,
    least(p.effective_end, o.effective_end) AS overlap_end,
    (epoch_ms(least(p.effective_end, o.effective_end)) - epoch_ms(o.start_time)) / 1000.0
        AS overlap_seconds,
    p.end_time IS NULL AND o.end_time IS NULL
        AND least(p.effective_end, o.effective_end) >= p.newest_data AS still_open
FROM pairs AS p
JOIN numbered AS o
    ON o.org = p.org AND o.user_id = p.user_id AND o.n = p.other_n
LEFT JOIN users AS u
    ON u.org = p.org AND u.id = p.user_id
WHERE p.ip IS NOT NULL
    AND o.ip IS NOT NULL
    AND p.ip <> o.ip
    AND least(p.effective_end, o.effective_end) > o.start_time
