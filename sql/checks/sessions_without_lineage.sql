-- sessions_without_lineage: stored sessions whose first/last run is missing from the ledger
-- or whose load times are unset.
SELECT s.org, s.id, s.first_run_id, s.last_run_id
FROM user_sessions AS s
LEFT JOIN ingest_runs AS f ON f.run_id = s.first_run_id
LEFT JOIN ingest_runs AS l ON l.run_id = s.last_run_id
WHERE f.run_id IS NULL OR l.run_id IS NULL OR s.loaded_at IS NULL OR s.updated_at IS NULL
   OR s.updated_at < s.loaded_at;
