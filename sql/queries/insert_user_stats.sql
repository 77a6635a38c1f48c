-- insert_user_stats: one observation per user from the registered Arrow frame
-- `staged_user_stats` (org, user_id, stats_id, last_session_time, failed_passwords).
-- Parameters: $run_id. observed_at = the transaction's start time.
INSERT INTO user_session_stats (
    org, run_id, observed_at, user_id, stats_id, last_session_time, failed_passwords
)
SELECT org, $run_id, current_timestamp, user_id, stats_id, last_session_time, failed_passwords
FROM staged_user_stats;
