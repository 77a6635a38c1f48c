-- rejected_sessions: session objects the API sent that cannot be stored in user_sessions
-- (no id, no userId, no startTime, an unparseable timestamp, a value of the wrong JSON type).
-- raw_json is the object exactly as received; reason says what was wrong.
-- A malformed object re-fetched later is not recorded again: one row per (org, session_id,
-- raw_json), kept by sql/queries/insert_rejected.sql (the first run that saw it).
CREATE TABLE rejected_sessions (
    org         VARCHAR NOT NULL DEFAULT 'default',
    run_id      BIGINT NOT NULL,
    session_id  BIGINT,
    raw_json    VARCHAR NOT NULL,
    reason      VARCHAR NOT NULL,
    rejected_at TIMESTAMPTZ NOT NULL DEFAULT current_timestamp
);
