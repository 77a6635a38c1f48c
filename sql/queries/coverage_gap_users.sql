-- coverage_gap_users: the users not covered (view coverage_gaps), most recent gap first, for the
-- coverage line of the report and the demo. $org: one org or NULL; $limit: how many rows.
SELECT org, user_id, user_name, last_session_time, newest_session_start, observed_at
FROM coverage_gaps
WHERE $org IS NULL OR org = $org
ORDER BY last_session_time DESC, org, user_id
LIMIT $limit
