-- report_concurrency_latest: the most recent concurrent-session incidents (report table).
-- $org: one organisation or NULL for all; $limit: how many rows.
SELECT org, user_id, user_name, session_id, other_session_id, ip_address, other_ip_address,
    overlap_start, overlap_seconds, still_open
FROM concurrent_sessions
WHERE $org IS NULL OR org = $org
ORDER BY overlap_start DESC, user_id, session_id, other_session_id
LIMIT $limit
