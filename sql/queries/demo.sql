-- demo: the queries of session_audit.demo_pipeline (what `session-audit demo` prints).

-- name: summary
-- the headline figures `session-audit demo` prints (one row).
-- Columns: sessions, users, session_users, open_sessions, rejected, shared_ips, shared_networks,
-- concurrent_incidents, concurrent_users.
SELECT
    (SELECT count(*) FROM user_sessions) AS sessions,
    (SELECT count(*) FROM users) AS users,
    (SELECT count(DISTINCT user_id) FROM user_sessions) AS session_users,
    (SELECT count(*) FROM user_sessions WHERE end_time IS NULL) AS open_sessions,
    (SELECT count(*) FROM rejected_sessions) AS rejected,
    (SELECT count(*) FROM shared_ips WHERE kind = 'ip') AS shared_ips,
    (SELECT count(*) FROM shared_ips WHERE kind = 'network') AS shared_networks,
    (SELECT count(*) FROM concurrent_sessions) AS concurrent_incidents,
    (SELECT count(DISTINCT user_id) FROM concurrent_sessions) AS concurrent_users

-- name: top_versions
-- the most used app versions, for `session-audit demo`. $limit: rows wanted.
-- Columns: app_id, app_version, sessions, users, is_outdated.
SELECT app_id, app_version, sessions, users, is_outdated
FROM app_version_usage
ORDER BY sessions DESC, app_id, version_key DESC
LIMIT $limit

-- name: flow_run_id
-- the Prefect flow-run id recorded for one ingest run. $run_id: the run.
SELECT flow_run_id FROM ingest_runs WHERE run_id = $run_id
