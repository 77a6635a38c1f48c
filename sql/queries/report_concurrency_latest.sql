-- report_concurrency_latest: the most recent concurrent-session incidents (report table).
-- $org: one organisation or NULL for all; $limit: how many rows.
-- state: 'closed' when both sessions ended; 'open at the newest data' when still_open (both
-- open and the capped overlap reaches the newest data); else 'open, started N days ago' with N
-- the whole days from the start of the first open session of the pair to the org's newest data
-- (never the local clock): a stale record, not a session in use.
WITH latest AS (
    SELECT
        c.*,
        CAST(floor((epoch_ms(h.newest_data) - epoch_ms(
            CASE WHEN c.end_time IS NULL THEN c.start_time ELSE c.other_start_time END
        )) / 86400000) AS BIGINT) AS open_days
    FROM concurrent_sessions AS c
    JOIN data_horizon AS h
        ON h.org = c.org
    WHERE $org IS NULL OR c.org = $org
    ORDER BY c.overlap_start DESC, c.user_id, c.session_id, c.other_session_id
    LIMIT $limit
)
SELECT
    org, user_id, user_name, session_id, other_session_id, ip_address, other_ip_address,
    overlap_start, overlap_seconds, still_open,
    CASE
        WHEN still_open THEN 'open at the newest data'
        WHEN end_time IS NULL OR other_end_time IS NULL THEN
            'open, started ' || open_days || CASE WHEN open_days = 1 THEN ' day' ELSE ' days' END
            || ' ago'
        ELSE 'closed'
    END AS state
FROM latest
ORDER BY overlap_start DESC, user_id, session_id, other_session_id
