-- lockout_until: when the API's lockout of this org's API user ends, as recorded by the newest
-- run that ended 'rate_limited' (a bare 429) and was not followed by a run that sent requests
-- successfully; NULL if none. Parameters: $org.
SELECT r.resume_at
FROM ingest_runs AS r
WHERE r.org = $org
    AND r.status = 'rate_limited'
    AND r.resume_at IS NOT NULL
    AND NOT EXISTS (
        SELECT 1 FROM ingest_runs AS later
        WHERE later.org = r.org AND later.run_id > r.run_id
            AND later.status IN ('completed', 'incomplete')
    )
ORDER BY r.run_id DESC
LIMIT 1;
