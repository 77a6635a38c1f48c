-- session_max_id: the highest stored session id (every organisation).
SELECT max(id) FROM user_sessions;
