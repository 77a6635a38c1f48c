-- ingest_runs_v3: the ledger gains the outcomes of a scan in the real (global, sparse) id space.
-- status: 'running' while it works, then 'completed' (the scan reached the session its own login
-- opened, or the stats vouched that nothing was new), 'incomplete' (it did not: error names the
-- last id reached), 'rate_limited' (a bare 429: resume_at says when the next run may go on),
-- 'failed' or 'interrupted' (stopped by a signal, or found still 'running' by a later run).
-- New columns: scanned_to (the highest session id this run requested in its scan),
-- end_session_id (the session of the API user opened by this run's login, which ended the scan),
-- resume_at (rate_limited only: the earliest time the next run may send a request, local clock),
-- api_user_id and login_at (the user the run's login answer named, and that answer's Date header:
-- the API's clock; the session that login opened starts then).
-- The table is rebuilt because DuckDB cannot alter a CHECK constraint; rows are copied as they are.
CREATE TABLE ingest_runs_v3 (
    run_id         BIGINT PRIMARY KEY,
    org            VARCHAR NOT NULL DEFAULT 'default',
    flow_run_id    VARCHAR,
    started_at     TIMESTAMPTZ NOT NULL DEFAULT current_timestamp,
    finished_at    TIMESTAMPTZ,
    status         VARCHAR NOT NULL,
    source         VARCHAR NOT NULL,
    first_id       BIGINT,
    last_id        BIGINT,
    requests       BIGINT NOT NULL DEFAULT 0,
    fetched        BIGINT NOT NULL DEFAULT 0,
    inserted       BIGINT NOT NULL DEFAULT 0,
    updated        BIGINT NOT NULL DEFAULT 0,
    unchanged      BIGINT NOT NULL DEFAULT 0,
    rejected       BIGINT NOT NULL DEFAULT 0,
    retries        BIGINT NOT NULL DEFAULT 0,
    penalty_waits  BIGINT NOT NULL DEFAULT 0,
    renewals       BIGINT NOT NULL DEFAULT 0,
    bytes          BIGINT NOT NULL DEFAULT 0,
    error          VARCHAR,
    scanned_to     BIGINT,
    end_session_id BIGINT,
    resume_at      TIMESTAMPTZ,
    api_user_id    BIGINT,
    login_at       TIMESTAMPTZ,
    CHECK (status IN ('running', 'completed', 'incomplete', 'rate_limited', 'failed',
                      'interrupted'))
);
INSERT INTO ingest_runs_v3 BY NAME SELECT * FROM ingest_runs;
DROP TABLE ingest_runs;
ALTER TABLE ingest_runs_v3 RENAME TO ingest_runs;
