-- user_sessions: one row per Tradovate login session (UserSession), as the API last served it.
-- Key (org, id). Values are stored exactly as received (no trimming, no truncation);
-- timestamps are UTC with milliseconds kept; end_time is NULL while the session is open.
-- anomalies: codes of odd but valid rows ('end_before_start', 'string_over_64',
-- 'ip_not_parseable', 'missing_client_app_id'); empty list when nothing is odd.
-- Lineage: first_run_id/loaded_at = the run that first stored the row; last_run_id/updated_at =
-- the run that last changed it (an identical re-fetch changes neither).
-- The primary key is what MERGE INTO joins on; measured on a 1M-row file with 5k-row
-- checkpoints (half new, half changed): MERGE with the key ~12 ms, MERGE without a key ~12 ms,
-- INSERT .. ON CONFLICT ~12-40 ms. The key costs nothing measurable and lets DuckDB itself
-- guarantee one row per id, so it stays.
CREATE TABLE user_sessions (
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
    PRIMARY KEY (org, id)
);
