-- finish_run: close a run's ledger row. A counter passed as NULL keeps its stored value (the sum
-- of the checkpoints); a number replaces it (the caller's final total). scanned_to,
-- end_session_id and resume_at describe how the scan ended (NULL when it did not apply);
-- api_user_id and login_at what the run's login answered.
-- Parameters: $run_id, $status, $error, $scanned_to, $end_session_id, $resume_at, $api_user_id,
-- $login_at and every counter below.
UPDATE ingest_runs
SET status = $status,
    finished_at = current_timestamp,
    error = $error,
    scanned_to = $scanned_to,
    end_session_id = $end_session_id,
    resume_at = $resume_at,
    api_user_id = $api_user_id,
    login_at = $login_at,
    requests = coalesce($requests, requests),
    fetched = coalesce($fetched, fetched),
    inserted = coalesce($inserted, inserted),
    updated = coalesce($updated, updated),
    unchanged = coalesce($unchanged, unchanged),
    rejected = coalesce($rejected, rejected),
    retries = coalesce($retries, retries),
    penalty_waits = coalesce($penalty_waits, penalty_waits),
    renewals = coalesce($renewals, renewals),
    bytes = coalesce($bytes, bytes)
WHERE run_id = $run_id;
