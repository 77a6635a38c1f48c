-- newest_sessions_restore: put the sessions of bench_newest back as sessions of a later run
-- (first_run_id = the highest + 1), which the measured findings evaluation then adds to
-- ip_user_rollup as it would after their ingest.
INSERT INTO user_sessions
SELECT * REPLACE ((SELECT coalesce(max(first_run_id), 0) + 1 FROM user_sessions) AS first_run_id)
FROM bench_newest;
