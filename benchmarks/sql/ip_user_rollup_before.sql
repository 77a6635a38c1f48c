-- ip_user_rollup_before: the steps that make the findings database look as it did before the
-- ingest of the sessions with id >= $since_id (benchmarks.findings.child_since runs them in
-- order, one statement each, with the product's ip_user_rollup.refresh between hide and
-- restore): those sessions are set aside, the rollup is brought up to date with the rest, and
-- they come back as sessions of a later run (first_run_id = the highest + 1), which the
-- measured evaluation then adds to the rollup as it would after their ingest.
-- name: hide
CREATE OR REPLACE TEMP TABLE bench_newest AS
SELECT * FROM user_sessions WHERE org = 'default' AND id >= $since_id;
-- name: remove
DELETE FROM user_sessions WHERE org = 'default' AND id >= $since_id;
-- name: restore
INSERT INTO user_sessions
SELECT * REPLACE ((SELECT coalesce(max(first_run_id), 0) + 1 FROM user_sessions) AS first_run_id)
FROM bench_newest;
