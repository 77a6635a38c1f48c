-- users_with_unseen_sessions: how many users' latest stats (the observation of run $run_id) report
-- a lastSessionTime later than the newest session stored for them AND not earlier than the start
-- of the highest session id stored (less $margin_seconds). Ids grow with startTime, so a session
-- not yet scanned (above the cursor) starts no earlier than that; a user's older unseen session
-- lies below the cursor (rejected or withheld: coverage_gaps shows those) and no scan would find
-- it. The API user ($api_user; NULL: none) is left out: each run's own login opens a session of
-- it. Zero means the stats vouch that a scan would find nothing new. Both sides are API
-- timestamps, never the local clock. Parameters: $org, $run_id, $api_user, $margin_seconds.
WITH newest AS (
    SELECT s.user_id, max(s.start_time) AS newest_start
    FROM user_sessions AS s
    WHERE s.org = $org
    GROUP BY s.user_id
),
top AS (
    SELECT s.start_time AS top_start
    FROM user_sessions AS s
    WHERE s.org = $org
    ORDER BY s.id DESC
    LIMIT 1
)
SELECT count(*)
FROM user_session_stats AS st
CROSS JOIN top AS t
LEFT JOIN newest AS n ON n.user_id = st.user_id
WHERE st.org = $org
    AND st.run_id = $run_id
    AND st.last_session_time IS NOT NULL
    AND ($api_user IS NULL OR st.user_id <> $api_user)
    AND (n.newest_start IS NULL OR st.last_session_time > n.newest_start)
    AND st.last_session_time >= t.top_start - to_seconds($margin_seconds);
