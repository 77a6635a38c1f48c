-- ip_user_rollup_state (schema version 9): what ip_user_rollup holds, one row per org (see
-- sql/schema/ip_user_rollup.sql and session_audit.db.ip_user_rollup).
--   org          VARCHAR  organisation label
--   through_run  BIGINT   the highest first_run_id of the sessions it holds (NULL: none had one)
--   sessions     BIGINT   sessions it holds (user_sessions of the org with an ip)
--   checksum     HUGEINT  sum of hash(id, ip, user_id, start_time) over those sessions
CREATE TABLE ip_user_rollup_state (
    org          VARCHAR PRIMARY KEY,
    through_run  BIGINT,
    sessions     BIGINT NOT NULL,
    checksum     HUGEINT NOT NULL
);
