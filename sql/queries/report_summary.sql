-- report_summary: headline figures of the HTML report. $org: one organisation or NULL for all.
SELECT
    count(*) AS sessions,
    count(DISTINCT user_id) AS users,
    count(*) FILTER (WHERE end_time IS NULL) AS open_sessions,
    count(DISTINCT ip_address) AS ips,
    min(start_time) AS first_login,
    max(start_time) AS last_login
FROM user_sessions
WHERE $org IS NULL OR org = $org
