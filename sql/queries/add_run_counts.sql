-- add_run_counts: add counters to a run's ledger row (0 for a counter that did not change).
-- Parameters: $run_id and every counter below.
UPDATE ingest_runs
SET requests = requests + $requests,
    fetched = fetched + $fetched,
    inserted = inserted + $inserted,
    updated = updated + $updated,
    unchanged = unchanged + $unchanged,
    rejected = rejected + $rejected,
    retries = retries + $retries,
    penalty_waits = penalty_waits + $penalty_waits,
    renewals = renewals + $renewals,
    bytes = bytes + $bytes
WHERE run_id = $run_id;
