-- rejected_sessions: session objects the API sent that cannot be stored in user_sessions
-- (no id, no userId, no startTime, an unparseable timestamp, a value of the wrong JSON type).
-- raw_json is the object exactly as received; reason says what was wrong.
-- A malformed object re-fetched by a later run is recorded again (one row per observation).
CREATE TABLE rejected_sessions (
    org         VARCHAR NOT NULL DEFAULT 'default',
    run_id      BIGINT NOT NULL,
    session_id  BIGINT,
    raw_json    VARCHAR NOT NULL,
    reason      VARCHAR NOT NULL,
    rejected_at TIMESTAMPTZ NOT NULL DEFAULT current_timestamp
);
