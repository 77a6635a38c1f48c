-- last_run: the newest ledger row of an org, optionally only with a given status.
-- Parameters: $org, $status (NULL = any status).
SELECT *
FROM ingest_runs
WHERE org = $org AND ($status IS NULL OR status = $status)
ORDER BY run_id DESC
LIMIT 1;
