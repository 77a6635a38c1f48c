-- run_counts: the counters of one ledger row (the columns of
-- session_audit.ingest.counts.LedgerCounts, in order). Parameters: $run_id.
SELECT requests, fetched, inserted, updated, unchanged, rejected, retries, penalty_waits,
    renewals, bytes
FROM ingest_runs
WHERE run_id = $run_id;
