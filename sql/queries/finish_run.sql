-- finish_run: close a run's ledger row. Its counters are not touched here (they are the sums the
-- run added with add_run_counts). scanned_to, end_session_id and resume_at describe how the scan
-- ended (NULL when it did not apply); api_user_id and login_at what the run's login answered.
-- Parameters: $run_id, $status, $error, $scanned_to, $end_session_id, $resume_at, $api_user_id,
-- $login_at.
UPDATE ingest_runs
SET status = $status,
    finished_at = current_timestamp,
    error = $error,
    scanned_to = $scanned_to,
    end_session_id = $end_session_id,
    resume_at = $resume_at,
    api_user_id = $api_user_id,
    login_at = $login_at
WHERE run_id = $run_id;
