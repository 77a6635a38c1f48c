-- View concurrent_sessions: pairs of sessions of one user that overlap in time and come from
-- different IP addresses (both known). An open session (endTime still NULL) counts as running
-- until now, but for at most 24 hours after its start: a token lives 80-90 minutes unless renewed,
-- so a record left open for weeks is a session never closed, not one still in use, and would
-- otherwise "overlap" every later session of its user. The rows change as time passes. Linear in the number of overlapping pairs: sessions are numbered per
-- user by start, an ASOF join finds the last session starting before each session ends, and only
-- the sessions in between are paired (no self-join over all of a user's sessions).
--
-- Columns:
--   org              VARCHAR      organisation label
--   user_id          BIGINT       the user
--   user_name        VARCHAR      users.name (NULL when unknown)
--   session_id       BIGINT       the session that started first (ties: lower id)
--   other_session_id BIGINT       the overlapping session that started later
--   ip_address       VARCHAR      IP of session_id
--   other_ip_address VARCHAR      IP of other_session_id (different from ip_address)
--   start_time       TIMESTAMPTZ  start of session_id
--   end_time         TIMESTAMPTZ  end of session_id (NULL: open)
--   other_start_time TIMESTAMPTZ  start of other_session_id
--   other_end_time   TIMESTAMPTZ  end of other_session_id (NULL: open)
--   overlap_start    TIMESTAMPTZ  other_start_time
--   overlap_end      TIMESTAMPTZ  the earlier of the two ends (open: now, at most start + 24 h)
--   overlap_seconds  DOUBLE       overlap_end - overlap_start in seconds
--   still_open       BOOLEAN      both sessions are still open: the overlap is going on
CREATE OR REPLACE VIEW concurrent_sessions AS
WITH numbered AS (
    SELECT
        org,
        user_id,
        id,
        ip_address,
        start_time,
        end_time,
        coalesce(end_time, least(current_timestamp, start_time + INTERVAL 24 HOUR)) AS effective_end,
        row_number() OVER (PARTITION BY org, user_id ORDER BY start_time, id) AS n
    FROM user_sessions
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
    SELECT org, user_id, id, ip_address, start_time, end_time, effective_end,
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
    p.start_time,
    p.end_time,
    o.start_time AS other_start_time,
    o.end_time AS other_end_time,
    o.start_time AS overlap_start,
    least(p.effective_end, o.effective_end) AS overlap_end,
    (epoch_ms(least(p.effective_end, o.effective_end)) - epoch_ms(o.start_time)) / 1000.0
        AS overlap_seconds,
    p.end_time IS NULL AND o.end_time IS NULL AS still_open
FROM pairs AS p
JOIN numbered AS o
    ON o.org = p.org AND o.user_id = p.user_id AND o.n = p.other_n
LEFT JOIN users AS u
    ON u.org = p.org AND u.id = p.user_id
WHERE p.ip_address IS NOT NULL
    AND o.ip_address IS NOT NULL
    AND p.ip_address <> o.ip_address
    AND least(p.effective_end, o.effective_end) > o.start_time
