-- add_run_counts: add counts to a run's ledger row, the only total of a run (one checkpoint's, in
-- the same transaction as its rows, or what the API client did after the last checkpoint, when
-- the run finishes), widen the stored id range, and return the new totals. The counter columns
-- are those of session_audit.ingest.counts.LedgerCounts, in order (a test checks it).
-- Parameters: $run_id, $min_id and $max_id (NULL: no ids), and every counter below.
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
    bytes = bytes + $bytes,
    first_id = coalesce(first_id, $min_id),
    last_id = greatest(last_id, $max_id)
WHERE run_id = $run_id
RETURNING requests, fetched, inserted, updated, unchanged, rejected, retries, penalty_waits,
    renewals, bytes;
