-- ingest_runs: the ledger, one row per ingest run. status: 'running' while it works, then
-- 'completed', 'failed' or 'interrupted' (a later run found it still 'running': it was killed).
-- source: 'scan', 'ids', 'open', ...; first_id/last_id: the session id range it stored;
-- counts are added per checkpoint (same transaction as the rows) and set at the end.
CREATE TABLE ingest_runs (
    run_id        BIGINT PRIMARY KEY,
    org           VARCHAR NOT NULL DEFAULT 'default',
    flow_run_id   VARCHAR,
    started_at    TIMESTAMPTZ NOT NULL DEFAULT current_timestamp,
    finished_at   TIMESTAMPTZ,
    status        VARCHAR NOT NULL,
    source        VARCHAR NOT NULL,
    first_id      BIGINT,
    last_id       BIGINT,
    requests      BIGINT NOT NULL DEFAULT 0,
    fetched       BIGINT NOT NULL DEFAULT 0,
    inserted      BIGINT NOT NULL DEFAULT 0,
    updated       BIGINT NOT NULL DEFAULT 0,
    unchanged     BIGINT NOT NULL DEFAULT 0,
    rejected      BIGINT NOT NULL DEFAULT 0,
    retries       BIGINT NOT NULL DEFAULT 0,
    penalty_waits BIGINT NOT NULL DEFAULT 0,
    renewals      BIGINT NOT NULL DEFAULT 0,
    bytes         BIGINT NOT NULL DEFAULT 0,
    error         VARCHAR,
    CHECK (status IN ('running', 'completed', 'failed', 'interrupted'))
);
