-- newest_sessions_remove: delete the sessions with id >= $since_id (kept in bench_newest by
-- newest_sessions_hide).
DELETE FROM user_sessions WHERE org = 'default' AND id >= $since_id;
