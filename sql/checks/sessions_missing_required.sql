-- sessions_missing_required: stored sessions without a user or a start time (such objects
-- belong in rejected_sessions).
SELECT org, id, user_id, start_time
FROM user_sessions
WHERE user_id IS NULL OR start_time IS NULL;
