-- schema_migrations: one row per applied schema version (session_audit.db.migrations).
-- version: the step number; description: what the step did; applied_at: when (UTC).
CREATE TABLE IF NOT EXISTS schema_migrations (
    version     INTEGER PRIMARY KEY,
    description VARCHAR NOT NULL,
    applied_at  TIMESTAMPTZ NOT NULL DEFAULT current_timestamp
);
