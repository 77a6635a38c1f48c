-- insert_run: open the ledger row of a new run. Parameters: $run_id, $org, $flow_run_id,
-- $source, $first_id.
INSERT INTO ingest_runs (run_id, org, flow_run_id, started_at, status, source, first_id)
VALUES ($run_id, $org, $flow_run_id, current_timestamp, 'running', $source, $first_id);
