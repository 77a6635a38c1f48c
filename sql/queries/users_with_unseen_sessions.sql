-- users_with_unseen_sessions: how many users' latest stats (the observation of run $run_id) report
-- a lastSessionTime later than the newest session stored for them, or, for a user with none
-- stored, later than the oldest session stored at all (older sessions lie before the first scan
-- and are out of scope). The API user ($api_user; NULL: none) is left out: each run's own login
-- opens a session of it. Zero means the stats vouch that a scan would find nothing new. Both
-- sides are API timestamps (never the local clock). Parameters: $org, $run_id, $api_user.
WITH newest AS (
    SELECT s.user_id, max(s.start_time) AS newest_start
    FROM user_sessions AS s
    WHERE s.org = $org
    GROUP BY s.user_id
),
floor AS (
    SELECT min(s.start_time) AS oldest_start FROM user_sessions AS s WHERE s.org = $org
)
SELECT count(*)
FROM user_session_stats AS st
CROSS JOIN floor AS f
LEFT JOIN newest AS n ON n.user_id = st.user_id
WHERE st.org = $org
    AND st.run_id = $run_id
    AND st.last_session_time IS NOT NULL
    AND ($api_user IS NULL OR st.user_id <> $api_user)
    AND (f.oldest_start IS NULL OR st.last_session_time > coalesce(n.newest_start, f.oldest_start));
