-- session_row_count: rows session-audit stored in user_sessions.
SELECT count(*) FROM user_sessions
