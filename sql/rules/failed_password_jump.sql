-- Rule failed_password_jump: the failed-password count of a user (userSessionStats, one row
-- per observation in user_session_stats) rose by at least the jump threshold between two
-- consecutive observations.
-- Why it matters: a burst of wrong passwords between two runs is someone guessing, or a
-- script with stale credentials hammering the login, either way an account to secure.
-- Threshold (setting -> parameter): findings_failed_password_jump
--   (SESSION_AUDIT_FINDINGS_FAILED_PASSWORD_JUMP, default 3) -> $failed_password_jump
-- Severity: low; medium from 5; high from 10.
-- Parameters: $org; $full: every pair of consecutive observations (TRUE) or only each user's
-- latest observation against the one before (FALSE: after an ingest); $since_id is not used
-- (observations are not sessions).
-- Key: '<user id>:<epoch ms of the later observation>'. session_ids is empty.
-- Returns the finding columns: severity, finding_key, user_ids, session_ids, first_seen,
-- last_seen, summary, evidence (JSON text).
WITH observations AS (
    -- a full evaluation: every observation with the one before it (windows per user)
    SELECT
        user_id, run_id, observed_at, failed_passwords,
        lag(failed_passwords) OVER w AS previous_failed,
        lag(observed_at) OVER w AS previous_at,
        lag(run_id) OVER w AS previous_run
    FROM user_session_stats
    WHERE $full AND org = $org AND failed_passwords IS NOT NULL
    WINDOW w AS (PARTITION BY user_id ORDER BY observed_at, run_id)
),
latest_two AS (
    -- after an ingest: each user's two latest observations (by observed_at, then run_id), one
    -- aggregate instead of sorting every user's observations
    SELECT user_id,
        max({'observed_at': observed_at, 'run_id': run_id, 'failed': failed_passwords}, 2)
            AS two
    FROM user_session_stats
    WHERE NOT $full AND org = $org AND failed_passwords IS NOT NULL
    GROUP BY user_id
),
pairs AS (
    SELECT user_id, run_id, observed_at, failed_passwords, previous_failed, previous_at,
        previous_run
    FROM observations
    UNION ALL
    SELECT user_id, two[1].run_id, two[1].observed_at, two[1].failed, two[2].failed,
        two[2].observed_at, two[2].run_id
    FROM latest_two
    WHERE len(two) = 2
),
jumps AS (
    SELECT *, failed_passwords - previous_failed AS jump
    FROM pairs
    WHERE previous_failed IS NOT NULL
        AND failed_passwords - previous_failed >= $failed_password_jump
)
SELECT
    CASE WHEN j.jump >= 10 THEN 'high' WHEN j.jump >= 5 THEN 'medium' ELSE 'low' END
        AS severity,
    CAST(j.user_id AS VARCHAR) || ':' || CAST(epoch_ms(j.observed_at) AS VARCHAR)
        AS finding_key,
    [j.user_id] AS user_ids,
    CAST([] AS BIGINT[]) AS session_ids,
    j.previous_at AS first_seen,
    j.observed_at AS last_seen,
    format('{} had {} more failed password(s) ({} -> {}) between two observations.',
        finding_user_label(u.name, j.user_id), j.jump, j.previous_failed, j.failed_passwords)
        AS summary,
    CAST(json_object(
        'previous_failed', j.previous_failed, 'failed', j.failed_passwords, 'jump', j.jump,
        'previous_run', j.previous_run, 'run', j.run_id, 'threshold', $failed_password_jump
    ) AS VARCHAR) AS evidence
FROM jumps AS j
LEFT JOIN users AS u ON u.org = $org AND u.id = j.user_id
