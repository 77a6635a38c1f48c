-- ingest_state: the scan cursor per org. next_id = the next session id a range scan asks for
-- (highest id stored or rejected + 1). Written in the same transaction as the rows it covers;
-- it only moves forward. The open session ids are the user_sessions rows with end_time NULL.
CREATE TABLE ingest_state (
    org        VARCHAR PRIMARY KEY DEFAULT 'default',
    next_id    BIGINT NOT NULL,
    run_id     BIGINT,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT current_timestamp
);
