-- add_checkpoint_counts: add one checkpoint's counts to its run's ledger row and widen the
-- stored id range (same transaction as the rows). Parameters: $run_id, $fetched, $inserted,
-- $updated, $unchanged, $rejected, $min_id, $max_id (NULL when the batch had no ids), $requests
-- (the run's API requests so far, or NULL: kept current so that a killed run still tells the
-- next one how much of the trailing-hour budget it spent).
UPDATE ingest_runs
SET fetched = fetched + $fetched,
    inserted = inserted + $inserted,
    updated = updated + $updated,
    unchanged = unchanged + $unchanged,
    rejected = rejected + $rejected,
    first_id = coalesce(first_id, $min_id),
    last_id = greatest(last_id, $max_id),
    requests = greatest(requests, coalesce($requests, requests))
WHERE run_id = $run_id;
