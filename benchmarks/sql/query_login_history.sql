-- query_login_history: one user's whole login history, as compliance staff open it.
-- Parameters: $user_id.
SELECT * FROM login_history WHERE user_id = $user_id ORDER BY start_time
