-- mark_interrupted: runs of this org still 'running' when a new run starts were killed (the
-- DuckDB file lock proves no other writer is alive). Parameters: $org.
UPDATE ingest_runs
SET status = 'interrupted',
    finished_at = current_timestamp,
    error = coalesce(error, 'interrupted: the process ended without finishing the run')
WHERE org = $org AND status = 'running';
