-- finished_runs_without_time: ledger rows that ended (not 'running') but have no finish time.
SELECT run_id, org, status
FROM ingest_runs
WHERE status <> 'running' AND finished_at IS NULL;
