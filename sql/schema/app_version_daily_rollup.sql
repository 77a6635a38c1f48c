-- app_version_daily_rollup (schema version 6): the per-day rollup the view app_version_daily
-- reads, one row per (org, UTC day of start_time, app_id, app_version) of user_sessions with a
-- version. Maintained exactly at ingest, in the checkpoint transaction that merges the sessions
-- (session_audit.db.app_version_rollup: every UTC day a checkpoint changes is recomputed from
-- user_sessions, never patched with deltas, because users and app_users are distinct counts);
-- a file migrated from an older schema gets it filled by the migration (rebuild).
--   org          VARCHAR  organisation label
--   day          DATE     UTC day of the session start (floor of the epoch, any date)
--   app_id       VARCHAR  API appId (NULL groups sessions without one)
--   app_version  VARCHAR  API appVersion as sent (never NULL: sessions without one count only
--                         in app_users)
--   sessions     BIGINT   sessions started that day with this app and version
--   users        BIGINT   distinct users of those sessions
--   app_users    BIGINT   distinct users of the app that day, any version (sessions without a
--                         version included); the same on every version row of the (day, app)
-- Check sql/checks/app_version_rollup_inconsistent.sql compares it with a recomputation.
CREATE TABLE app_version_daily_rollup (
    org          VARCHAR NOT NULL DEFAULT 'default',
    day          DATE NOT NULL,
    app_id       VARCHAR,
    app_version  VARCHAR NOT NULL,
    sessions     BIGINT NOT NULL,
    users        BIGINT NOT NULL,
    app_users    BIGINT NOT NULL
);
