-- report_summary: headline figures of the HTML report. $org: one organisation or NULL for all.
-- Open sessions follow the one rule of data_horizon: open_sessions counts every record the API
-- reports open (end_time NULL); running_sessions only those whose assumed run (at most
-- open_session_hours after the start, never beyond the org's newest data) reaches the newest
-- data; the rest are stale records never closed. newest_data: the latest start or end stored.
WITH scoped AS (
    SELECT s.*, h.newest_data
    FROM user_sessions AS s
    JOIN data_horizon AS h
        ON h.org = s.org
    WHERE $org IS NULL OR s.org = $org
)
SELECT
    count(*) AS sessions,
    count(DISTINCT user_id) AS users,
    count(*) FILTER (WHERE end_time IS NULL) AS open_sessions,
    count(*) FILTER (
        WHERE end_time IS NULL
        AND session_assumed_end(start_time, end_time, newest_data) >= newest_data
    ) AS running_sessions,
    count(DISTINCT ip) AS ips,
    min(start_time) AS first_login,
    max(start_time) AS last_login,
    max(newest_data) AS newest_data,
    open_session_hours() AS open_session_hours
FROM scoped
