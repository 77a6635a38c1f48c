-- user_sessions_keyless_v8 (schema version 8): user_sessions rebuilt without its PRIMARY KEY
-- (org, id), every row, column, type, default, NOT NULL and the user_id index kept.
-- Why: the key's ART index is maintained on every insert and written at every checkpoint, the
-- largest cost of storing a checkpoint that is not the rows themselves (issue 14, measured on
-- 50,000-session checkpoints into a 1M-session file: 138 -> 117 ms of CPU per checkpoint with
-- the key gone; ~0.45 s per 1M sessions loaded). One row per (org, id) does not rest on it:
-- the only writer (session_audit.ingest.store.SessionStore.write_checkpoint, one writer per
-- file) inserts a checkpoint only when none of its ids is stored (sessions_in_id_range) and
-- MERGEs it by (org, id) otherwise, from a frame whose ids are unique (the last occurrence
-- wins in normalize and in checkpoints.combine_batches); sql/checks/duplicate_session_ids.sql
-- checks it. MERGE INTO joins on (org, id) as fast without the key (measured when the key
-- was added, see user_sessions.sql).
-- The copy keeps the stored order (ids ascending within a run's checkpoints), so zone maps on
-- id and start_time keep pruning. A file's first migration pays one copy of its sessions.
CREATE TABLE user_sessions_v8 (
    org           VARCHAR NOT NULL DEFAULT 'default',
    id            BIGINT NOT NULL,
    user_id       BIGINT NOT NULL,
    start_time    TIMESTAMPTZ NOT NULL,
    end_time      TIMESTAMPTZ,
    client_app_id BIGINT,
    ip_address    VARCHAR,
    app_id        VARCHAR,
    app_version   VARCHAR,
    anomalies     VARCHAR[] NOT NULL,
    first_run_id  BIGINT,
    last_run_id   BIGINT,
    loaded_at     TIMESTAMPTZ,
    updated_at    TIMESTAMPTZ,
    ip            VARCHAR,
    ip_family     VARCHAR,
    ip_network    VARCHAR
);
INSERT INTO user_sessions_v8 BY NAME SELECT * FROM user_sessions;
DROP INDEX IF EXISTS user_sessions_user_idx;
DROP TABLE user_sessions;
ALTER TABLE user_sessions_v8 RENAME TO user_sessions;
CREATE INDEX user_sessions_user_idx ON user_sessions (user_id);
