-- user_session_stats: GET /userSessionStats/ldeps, one row per observation (run), so the history
-- of failed password counts is kept. user_id is the master user id; stats_id the entity id.
CREATE TABLE user_session_stats (
    org               VARCHAR NOT NULL DEFAULT 'default',
    run_id            BIGINT NOT NULL,
    observed_at       TIMESTAMPTZ NOT NULL,
    user_id           BIGINT NOT NULL,
    stats_id          BIGINT,
    last_session_time TIMESTAMPTZ,
    failed_passwords  INTEGER
);
