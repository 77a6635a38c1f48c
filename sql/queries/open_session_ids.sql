-- open_session_ids: sessions of an org still open (end_time NULL), to re-fetch. Parameters: $org.
SELECT id FROM user_sessions WHERE org = $org AND end_time IS NULL ORDER BY id;
