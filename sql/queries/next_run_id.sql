-- next_run_id: the id of a new ingest run (one writer at a time, guaranteed by the file lock).
SELECT coalesce(max(run_id), 0) + 1 FROM ingest_runs;
