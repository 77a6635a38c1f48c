-- newest_sessions_hide: set aside the sessions with id >= $since_id in the temp table
-- bench_newest, so that the findings database can be brought to the state before their ingest
-- (benchmarks.findings.child_since: hide, remove, the product's ip_user_rollup.refresh over the
-- rest, then newest_sessions_restore).
CREATE OR REPLACE TEMP TABLE bench_newest AS
SELECT * FROM user_sessions WHERE org = 'default' AND id >= $since_id;
