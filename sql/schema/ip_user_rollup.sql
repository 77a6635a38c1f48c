-- ip_user_rollup (schema version 9): per (org, canonical ip, user) the
-- first session (by start, then id), the latest start and the number of sessions of
-- user_sessions with an ip, so that the detection rules that ask "ever before" (shared_ip: which
-- accounts ever used this address; new_ip_burst: when did this user first use it) read one row
-- per address and user instead of every earlier session. Kept by the findings evaluation, not
-- by the ingest (session_audit.db.ip_user_rollup.refresh, committed before the rules run): the
-- sessions stored by runs after the last refresh are added; a checksum of every session's
-- (id, ip, user_id, start_time) proves the rest unchanged, else the rollup is rebuilt.
--   org          VARCHAR      organisation label
--   ip           VARCHAR      canonical IP (user_sessions.ip, never NULL here)
--   user_id      BIGINT       the account
--   first_start  TIMESTAMPTZ  start of the first session of the account from the address
--   first_id     BIGINT       its id (the smallest id among sessions of that start)
--   last_start   TIMESTAMPTZ  start of the latest session of the account from the address
--   sessions     BIGINT       sessions of the account from the address
-- What it holds per org: ip_user_rollup_state.
-- Check sql/checks/ip_user_rollup_inconsistent.sql compares it with a recomputation.
CREATE TABLE ip_user_rollup (
    org          VARCHAR NOT NULL DEFAULT 'default',
    ip           VARCHAR NOT NULL,
    user_id      BIGINT NOT NULL,
    first_start  TIMESTAMPTZ NOT NULL,
    first_id     BIGINT NOT NULL,
    last_start   TIMESTAMPTZ NOT NULL,
    sessions     BIGINT NOT NULL
);
