-- ip_user_rollup: the statements of session_audit.db.ip_user_rollup, which keeps the per
-- (org, ip, user) rollup of user_sessions (sql/schema/ip_user_rollup.sql) for the findings
-- evaluation. The sessions it holds are those of $org with an ip whose first_run_id is at most
-- ip_user_rollup_state.through_run (or NULL); a session's part of the checksum is
-- hash(id, ip, user_id, start_time) as HUGEINT.

-- name: state
-- what the rollup holds for $org (no row: nothing yet).
SELECT through_run, sessions, checksum FROM ip_user_rollup_state WHERE org = $org

-- name: totals
-- $org's sessions with an ip now: how many and their checksum; the part stored by runs after
-- $through (first_run_id > $through; every session with a run id when $through is NULL), which
-- the rollup does not hold yet; and the highest first_run_id. One scan of four columns.
SELECT
    count(*) AS sessions,
    coalesce(sum(CAST(hash(id, ip, user_id, start_time) AS HUGEINT)), 0) AS checksum,
    count(*) FILTER (WHERE first_run_id > coalesce($through, -9223372036854775808))
        AS new_sessions,
    coalesce(sum(CAST(hash(id, ip, user_id, start_time) AS HUGEINT))
        FILTER (WHERE first_run_id > coalesce($through, -9223372036854775808)), 0)
        AS new_checksum,
    max(first_run_id) AS through_run
FROM user_sessions
WHERE org = $org AND ip IS NOT NULL

-- name: clear
-- forget $org's rollup rows (a rebuild: then new_rows with $all).
DELETE FROM ip_user_rollup WHERE org = $org

-- name: new_rows
-- the rollup rows of $org's sessions to add, into the temp table ip_user_rollup_new: all of
-- them when $all (a rebuild, after clear), else those stored by runs after $through
-- (first_run_id > $through; every session with a run id when $through is NULL). Then
-- update_known, insert_new (an UPDATE and an INSERT cost 70 ms where one MERGE into the 1.3M
-- rows of a 10M-session rollup took 350 ms).
CREATE OR REPLACE TEMP TABLE ip_user_rollup_new AS
SELECT org, ip, user_id,
    min(start_time) AS first_start,
    arg_min(id, CAST(epoch_us(start_time) AS HUGEINT) * 18446744073709551616 + id) AS first_id,
    max(start_time) AS last_start,
    count(*) AS sessions
FROM user_sessions
WHERE org = $org AND ip IS NOT NULL
    AND ($all OR first_run_id > coalesce($through, -9223372036854775808))
GROUP BY org, ip, user_id

-- name: update_known
-- a known (org, ip, user) of ip_user_rollup_new: its earlier first session (by start, then
-- id), its later last start, the sum of the counts. Run before insert_new.
UPDATE ip_user_rollup AS r
SET
    first_start = CASE WHEN n.first_start < r.first_start
        OR (n.first_start = r.first_start AND n.first_id < r.first_id)
        THEN n.first_start ELSE r.first_start END,
    first_id = CASE WHEN n.first_start < r.first_start
        OR (n.first_start = r.first_start AND n.first_id < r.first_id)
        THEN n.first_id ELSE r.first_id END,
    last_start = greatest(r.last_start, n.last_start),
    sessions = r.sessions + n.sessions
FROM ip_user_rollup_new AS n
WHERE r.org = n.org AND r.ip = n.ip AND r.user_id = n.user_id

-- name: insert_new
-- the rows of ip_user_rollup_new whose (org, ip, user) the rollup does not hold yet.
INSERT INTO ip_user_rollup (org, ip, user_id, first_start, first_id, last_start, sessions)
SELECT n.org, n.ip, n.user_id, n.first_start, n.first_id, n.last_start, n.sessions
FROM ip_user_rollup_new AS n
ANTI JOIN ip_user_rollup AS r ON r.org = n.org AND r.ip = n.ip AND r.user_id = n.user_id

-- name: drop_new
-- forget the temp table ip_user_rollup_new.
DROP TABLE IF EXISTS ip_user_rollup_new

-- name: put_state
-- record what the rollup of $org holds now.
INSERT OR REPLACE INTO ip_user_rollup_state (org, through_run, sessions, checksum)
VALUES ($org, $through, $sessions, $checksum)
