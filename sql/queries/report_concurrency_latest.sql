-- report_concurrency_latest: the most recent concurrent-session incidents (report table), each
-- with both sessions' IPs and apps and the overlap window. $org: one organisation or NULL for
-- all; $limit: how many rows.
-- app / other_app: app_id and app_version of each session, e.g. 'Trader 2.0' (NULL parts left
-- out). overlap_end: the end of the overlap under the open-session rule (see data_horizon).
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
    l.org, l.user_id, l.user_name, l.session_id, l.other_session_id, l.ip_address,
    l.other_ip_address,
    nullif(concat_ws(' ', a.app_id, a.app_version), '') AS app,
    nullif(concat_ws(' ', b.app_id, b.app_version), '') AS other_app,
    l.overlap_start, l.overlap_end, l.overlap_seconds, l.still_open,
    CASE
        WHEN l.still_open THEN 'open at the newest data'
        WHEN l.end_time IS NULL OR l.other_end_time IS NULL THEN
            'open, started ' || l.open_days
            || CASE WHEN l.open_days = 1 THEN ' day' ELSE ' days' END || ' ago'
        ELSE 'closed'
    END AS state
FROM latest AS l
LEFT JOIN user_sessions AS a
    ON a.org = l.org AND a.id = l.session_id
LEFT JOIN user_sessions AS b
    ON b.org = l.org AND b.id = l.other_session_id
ORDER BY l.overlap_start DESC, l.user_id, l.session_id, l.other_session_id
