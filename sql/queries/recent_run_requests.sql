-- recent_run_requests: API requests of this org's runs that may still count against the
-- trailing-hour budget, with the latest moment they may have been sent (epoch seconds): a run's
-- finish, or now for a run with no finish (still running, or killed: when is unknown, so assume
-- the worst). Parameters: $org, $since (TIMESTAMPTZ, normally now - 1 hour).
SELECT
    epoch(coalesce(finished_at, current_timestamp)) AS sent_by,
    requests
FROM ingest_runs
WHERE org = $org
    AND requests > 0
    AND coalesce(finished_at, current_timestamp) > $since
ORDER BY sent_by
