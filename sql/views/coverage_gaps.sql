-- View coverage_gaps: the users whose trail is provably incomplete: one row per (org, user)
-- whose API-reported last session (user_session_stats.last_session_time, latest observation)
-- is later than the newest session start we hold for that user (or who has none stored). Empty
-- after a complete ingest: then every user observed is covered up to their lastSessionTime
-- (see user_coverage; `session-audit report` and the demo print the one-line verdict).
--
-- Columns:
--   org                   VARCHAR      organisation label
--   user_id               BIGINT       the user
--   user_name             VARCHAR      users.name (NULL when unknown)
--   last_session_time     TIMESTAMPTZ  the API's lastSessionTime (latest observation)
--   newest_session_start  TIMESTAMPTZ  the latest session start stored (NULL: none stored)
--   observed_at           TIMESTAMPTZ  when the API reported last_session_time
--   missing_seconds       DOUBLE       last_session_time - newest_session_start in seconds
--                                      (NULL when no session is stored)
CREATE OR REPLACE VIEW coverage_gaps AS
SELECT
    org,
    user_id,
    user_name,
    last_session_time,
    newest_session_start,
    observed_at,
    (epoch_ms(last_session_time) - epoch_ms(newest_session_start)) / 1000.0 AS missing_seconds
FROM user_coverage
WHERE NOT covered
