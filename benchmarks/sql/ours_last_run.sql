-- ours_last_run: the newest ingest run of a session-audit database (what a benchmark run did).
SELECT run_id, status, first_id, last_id, requests, fetched, inserted, updated, unchanged,
       rejected
FROM ingest_runs
ORDER BY run_id DESC
LIMIT 1
