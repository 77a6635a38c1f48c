-- store: the statements of session_audit.ingest.store (SessionStore): the run ledger
-- (ingest_runs), the cursor (ingest_state), what the API taught us (api_state), and the rows of
-- each checkpoint. The checkpoint MERGE is the template merge_sessions.sql, rendered from the
-- session row's field table (session_row.SessionRow.merge_sql).

-- name: add_run_counts
-- add counts to a run's ledger row, the only total of a run (one checkpoint's, in
-- the same transaction as its rows, or what the API client did after the last checkpoint, when
-- the run finishes), widen the stored id range, and return the new totals. The counter columns
-- are those of session_audit.ingest.counts.LedgerCounts, in order (a test checks it).
-- Parameters: $run_id, $min_id and $max_id (NULL: no ids), and every counter below.
UPDATE ingest_runs
SET requests = requests + $requests,
    fetched = fetched + $fetched,
    inserted = inserted + $inserted,
    updated = updated + $updated,
    unchanged = unchanged + $unchanged,
    rejected = rejected + $rejected,
    retries = retries + $retries,
    penalty_waits = penalty_waits + $penalty_waits,
    renewals = renewals + $renewals,
    bytes = bytes + $bytes,
    first_id = coalesce(first_id, $min_id),
    last_id = greatest(last_id, $max_id)
WHERE run_id = $run_id
RETURNING requests, fetched, inserted, updated, unchanged, rejected, retries, penalty_waits,
    renewals, bytes;

-- name: advance_cursor
-- move an org's scan cursor to $next_id, never backwards.
-- Parameters: $org, $next_id, $run_id.
INSERT INTO ingest_state (org, next_id, run_id, updated_at)
VALUES ($org, $next_id, $run_id, current_timestamp)
ON CONFLICT (org) DO UPDATE SET
    run_id = CASE WHEN excluded.next_id > next_id THEN excluded.run_id ELSE run_id END,
    updated_at = CASE WHEN excluded.next_id > next_id THEN excluded.updated_at ELSE updated_at END,
    next_id = greatest(next_id, excluded.next_id);

-- name: finish_run
-- close a run's ledger row. Its counters are not touched here (they are the sums the
-- run added with add_run_counts). scanned_to, end_session_id and resume_at describe how the scan
-- ended (NULL when it did not apply); api_user_id and login_at what the run's login answered.
-- Parameters: $run_id, $status, $error, $scanned_to, $end_session_id, $resume_at, $api_user_id,
-- $login_at.
UPDATE ingest_runs
SET status = $status,
    finished_at = current_timestamp,
    error = $error,
    scanned_to = $scanned_to,
    end_session_id = $end_session_id,
    resume_at = $resume_at,
    api_user_id = $api_user_id,
    login_at = $login_at
WHERE run_id = $run_id;

-- name: get_api_state
-- what earlier runs learned about an API root. Parameters: $base_url.
SELECT a.batch_size, a.rejected_at FROM api_state AS a WHERE a.base_url = $base_url;

-- name: get_next_id
-- the scan cursor of an org (no row: never scanned). Parameters: $org.
SELECT next_id FROM ingest_state WHERE org = $org;

-- name: id_rate_points
-- (id, start_time) of an org's lowest and highest stored session: the slope
-- between them is the platform's rate of session ids over time, which lets a scan cross quiet
-- stretches of foreign ids (see ingest/scan_plan.py). No row when nothing is stored.
-- Parameters: $org.
SELECT lo.id, lo.start_time, hi.id, hi.start_time
FROM (SELECT s.id, s.start_time FROM user_sessions AS s WHERE s.org = $org
      ORDER BY s.id LIMIT 1) AS lo,
     (SELECT s.id, s.start_time FROM user_sessions AS s WHERE s.org = $org
      ORDER BY s.id DESC LIMIT 1) AS hi;

-- name: insert_new_sessions
-- store a checkpoint of sessions none of which is stored yet (the caller
-- checked with sessions_in_id_range), from the registered Arrow frame `staged_sessions` (the
-- columns of session_audit.session_row.SESSION_ROW.frame_schema, matched BY NAME, so the field
-- table alone decides them), with the lineage merge_sessions gives a new row: first/last run =
-- $run_id, loaded/updated at the transaction's start time. The same rows as merge_sessions would
-- insert, without its per-row match and RETURNING (measured: ~25% less CPU per 5,000-id
-- checkpoint of new sessions). Parameters: $run_id.
INSERT INTO user_sessions BY NAME
SELECT
    *,
    $run_id AS first_run_id,
    $run_id AS last_run_id,
    current_timestamp AS loaded_at,
    current_timestamp AS updated_at
FROM staged_sessions;

-- name: insert_rejected
-- record the rejected objects of one checkpoint from the registered Arrow
-- frame `staged_rejected` (org, session_id, raw_json, reason). Parameters: $run_id.
-- One row per (org, session_id, raw_json), however often the object is re-fetched: a pair
-- already stored (or repeated within the frame) is not inserted again; the first run that saw
-- it keeps the row. session_id may be NULL (no usable id), compared NULL-safely.
INSERT INTO rejected_sessions (org, run_id, session_id, raw_json, reason, rejected_at)
SELECT s.org, $run_id, s.session_id, s.raw_json, min(s.reason), current_timestamp
FROM staged_rejected AS s
WHERE NOT EXISTS (
    SELECT 1
    FROM rejected_sessions AS r
    WHERE r.org = s.org
        AND r.session_id IS NOT DISTINCT FROM s.session_id
        AND r.raw_json = s.raw_json
)
GROUP BY s.org, s.session_id, s.raw_json;

-- name: insert_run
-- open the ledger row of a new run. Parameters: $run_id, $org, $flow_run_id,
-- $source, $first_id.
INSERT INTO ingest_runs (run_id, org, flow_run_id, started_at, status, source, first_id)
VALUES ($run_id, $org, $flow_run_id, current_timestamp, 'running', $source, $first_id);

-- name: insert_user_stats
-- one observation per user from the registered Arrow frame
-- `staged_user_stats` (org, user_id, stats_id, last_session_time, failed_passwords).
-- Parameters: $run_id. observed_at = the transaction's start time.
INSERT INTO user_session_stats (
    org, run_id, observed_at, user_id, stats_id, last_session_time, failed_passwords
)
SELECT org, $run_id, current_timestamp, user_id, stats_id, last_session_time, failed_passwords
FROM staged_user_stats;

-- name: last_run
-- the newest ledger row of an org, optionally only with a given status.
-- Parameters: $org, $status (NULL = any status).
SELECT *
FROM ingest_runs
WHERE org = $org AND ($status IS NULL OR status = $status)
ORDER BY run_id DESC
LIMIT 1;

-- name: lockout_until
-- when the API's lockout of this org's API user ends, as recorded by the newest
-- run that ended 'rate_limited' (a bare 429) and was not followed by a run that sent requests
-- successfully; NULL if none. Parameters: $org.
SELECT r.resume_at
FROM ingest_runs AS r
WHERE r.org = $org
    AND r.status = 'rate_limited'
    AND r.resume_at IS NOT NULL
    AND NOT EXISTS (
        SELECT 1 FROM ingest_runs AS later
        WHERE later.org = r.org AND later.run_id > r.run_id
            AND later.status IN ('completed', 'incomplete')
    )
ORDER BY r.run_id DESC
LIMIT 1;

-- name: mark_interrupted
-- runs of this org still 'running' when a new run starts were killed (the
-- DuckDB file lock proves no other writer is alive). Parameters: $org.
UPDATE ingest_runs
SET status = 'interrupted',
    finished_at = current_timestamp,
    error = coalesce(error, 'interrupted: the process ended without finishing the run')
WHERE org = $org AND status = 'running';

-- name: merge_users
-- upsert the users of one /user/list answer from the registered Arrow frame
-- `staged_users` (org, id, name, email, status, professional, organization_id, linked_user_id,
-- foreign_introducing_broker_id, created_at; ids unique). A new user is inserted; a stored one
-- is updated only when a value differs (NULL-safe), so a rerun with the same answer writes no
-- row. first_run_id is kept; last_run_id = the run that inserted or last changed the user.
-- Returns the number of rows inserted or updated. Parameters: $run_id.
MERGE INTO users AS t
USING staged_users AS s
ON t.org = s.org AND t.id = s.id
WHEN MATCHED AND (
    t.name IS DISTINCT FROM s.name
    OR t.email IS DISTINCT FROM s.email
    OR t.status IS DISTINCT FROM s.status
    OR t.professional IS DISTINCT FROM s.professional
    OR t.organization_id IS DISTINCT FROM s.organization_id
    OR t.linked_user_id IS DISTINCT FROM s.linked_user_id
    OR t.foreign_introducing_broker_id IS DISTINCT FROM s.foreign_introducing_broker_id
    OR t.created_at IS DISTINCT FROM s.created_at
) THEN UPDATE SET
    name = s.name,
    email = s.email,
    status = s.status,
    professional = s.professional,
    organization_id = s.organization_id,
    linked_user_id = s.linked_user_id,
    foreign_introducing_broker_id = s.foreign_introducing_broker_id,
    created_at = s.created_at,
    last_run_id = $run_id
WHEN NOT MATCHED THEN INSERT (
    org, id, name, email, status, professional, organization_id, linked_user_id,
    foreign_introducing_broker_id, created_at, first_run_id, last_run_id
) VALUES (
    s.org, s.id, s.name, s.email, s.status, s.professional, s.organization_id, s.linked_user_id,
    s.foreign_introducing_broker_id, s.created_at, $run_id, $run_id
);

-- name: next_run_id
-- the id of a new ingest run (one writer at a time, guaranteed by the file lock).
SELECT coalesce(max(run_id), 0) + 1 FROM ingest_runs;

-- name: open_session_ids
-- sessions of an org still open (end_time NULL), to re-fetch. Parameters: $org.
SELECT id FROM user_sessions WHERE org = $org AND end_time IS NULL ORDER BY id;

-- name: put_api_state
-- remember the ids-per-call an API root accepts ($batch_size) and the smallest
-- size it rejected ($rejected_at, NULL if none). Parameters: $base_url, $batch_size, $rejected_at.
INSERT INTO api_state AS a (base_url, batch_size, rejected_at, updated_at)
VALUES ($base_url, $batch_size, $rejected_at, current_timestamp)
ON CONFLICT (base_url) DO UPDATE SET
    batch_size = excluded.batch_size,
    rejected_at = excluded.rejected_at,
    updated_at = excluded.updated_at;

-- name: recent_run_requests
-- API requests of this org's runs that may still count against the
-- trailing-hour budget, with the latest moment they may have been sent (epoch seconds): a run's
-- finish, or now for a run with no finish (still running, or killed: when is unknown, so assume
-- the worst). Parameters: $org, $since (TIMESTAMPTZ, normally now - 1 hour).
SELECT
    epoch(coalesce(finished_at, current_timestamp)) AS sent_by,
    requests
FROM ingest_runs
WHERE org = $org
    AND requests > 0
    AND coalesce(finished_at, current_timestamp) > $since
ORDER BY sent_by

-- name: sessions_in_id_range
-- how many stored sessions of $org have an id in [$lo, $hi] (the staged
-- checkpoint's id range). 0 means no staged id can match a stored one, so the checkpoint is a
-- plain insert (insert_new_sessions) and needs no MERGE. Zone maps on id make it a row-group
-- lookup. Parameters: $org, $lo, $hi.
SELECT count(*) FROM user_sessions WHERE org = $org AND id BETWEEN $lo AND $hi;

-- name: set_cursor_if_absent
-- give an org its first scan cursor; an existing cursor is kept.
-- Parameters: $org, $next_id, $run_id.
INSERT INTO ingest_state (org, next_id, run_id, updated_at)
VALUES ($org, $next_id, $run_id, current_timestamp)
ON CONFLICT (org) DO NOTHING;

-- name: users_with_unseen_sessions
-- how many users' latest stats (the observation of run $run_id) report
-- a lastSessionTime later than the newest session stored for them AND not earlier than the start
-- of the highest session id stored (less $margin_seconds). Ids grow with startTime, so a session
-- not yet scanned (above the cursor) starts no earlier than that; a user's older unseen session
-- lies below the cursor (rejected or withheld: coverage_gaps shows those) and no scan would find
-- it. The API user ($api_user; NULL: none) is left out: each run's own login opens a session of
-- it. Zero means the stats vouch that a scan would find nothing new. Both sides are API
-- timestamps, never the local clock. Parameters: $org, $run_id, $api_user, $margin_seconds.
WITH newest AS (
    SELECT s.user_id, max(s.start_time) AS newest_start
    FROM user_sessions AS s
    WHERE s.org = $org
    GROUP BY s.user_id
),
top AS (
    SELECT s.start_time AS top_start
    FROM user_sessions AS s
    WHERE s.org = $org
    ORDER BY s.id DESC
    LIMIT 1
)
SELECT count(*)
FROM user_session_stats AS st
CROSS JOIN top AS t
LEFT JOIN newest AS n ON n.user_id = st.user_id
WHERE st.org = $org
    AND st.run_id = $run_id
    AND st.last_session_time IS NOT NULL
    AND ($api_user IS NULL OR st.user_id <> $api_user)
    AND (n.newest_start IS NULL OR st.last_session_time > n.newest_start)
    AND st.last_session_time >= t.top_start - to_seconds($margin_seconds);
