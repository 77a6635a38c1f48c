-- View user_coverage: the coverage proof per user. userSessionStats gives each user's
-- lastSessionTime as the API saw it; a user is covered when the database holds a session that
-- started at or after that time (the newest session start we hold is not earlier). One row per
-- (org, user) with at least one user_session_stats observation; the latest observation counts
-- (by observed_at, then run_id). A user whose last session was rejected as malformed (see
-- rejected_sessions) is not covered: the trail lacks that row. A user who never logged in is
-- covered: the API reports no lastSessionTime, or (as the simulator does) one at or before the
-- account's creation (users.created_at) while no session is stored. The API user's latest
-- session is the one its observing run's own login opened (ingest_runs.api_user_id, login_at):
-- when that run completed, its scan either stored it or the stats vouched that nothing else was
-- new, so that session alone (starting at or after login_at less 5 seconds) counts as covered.
--
-- Columns:
--   org                   VARCHAR      organisation label
--   user_id               BIGINT       the user
--   user_name             VARCHAR      users.name (NULL when unknown)
--   last_session_time     TIMESTAMPTZ  the API's lastSessionTime in the latest observation (NULL:
--                                      the API reports no session)
--   newest_session_start  TIMESTAMPTZ  the latest start_time stored for the user (NULL: none)
--   observed_at           TIMESTAMPTZ  when that observation was made (local clock of the run)
--   run_id                BIGINT       the ingest run that made it
--   covered               BOOLEAN      last_session_time is NULL, or not later than
--                                      newest_session_start, or (no session stored) not later
--                                      than users.created_at, or the API user's session opened
--                                      by the completed run that observed it, or earlier than
--                                      the org's oldest stored session
CREATE OR REPLACE VIEW user_coverage AS
WITH latest_stats AS (
    SELECT
        org,
        user_id,
        max({'at': observed_at, 'run': run_id, 'last': last_session_time}) AS latest
    FROM user_session_stats
    GROUP BY org, user_id
),
held AS (
    SELECT org, user_id, max(start_time) AS newest_session_start
    FROM user_sessions
    GROUP BY org, user_id
),
trail AS (
    SELECT org, min(start_time) AS trail_start
    FROM user_sessions
    GROUP BY org
)
SELECT
    l.org,
    l.user_id,
    u.name AS user_name,
    (l.latest).last AS last_session_time,
    h.newest_session_start,
    (l.latest).at AS observed_at,
    (l.latest).run AS run_id,
    (l.latest).last IS NULL
        OR coalesce((l.latest).last <= h.newest_session_start, FALSE)
        OR (h.newest_session_start IS NULL AND coalesce((l.latest).last <= u.created_at, FALSE))
        OR coalesce(
            r.status = 'completed'
            AND r.api_user_id = l.user_id
            AND (l.latest).last >= r.login_at - INTERVAL 5 SECOND,
            FALSE
        )
        OR coalesce((l.latest).last < t.trail_start, FALSE)
        AS covered
FROM latest_stats AS l
LEFT JOIN trail AS t
    ON t.org = l.org
LEFT JOIN ingest_runs AS r
    ON r.run_id = (l.latest).run
LEFT JOIN held AS h
    ON h.org = l.org AND h.user_id = l.user_id
LEFT JOIN users AS u
    ON u.org = l.org AND u.id = l.user_id
