-- findings: the statements of session_audit.analysis.findings (evaluating the detection
-- rules of sql/rules/ inside DuckDB, listing and acknowledging findings). The rules themselves
-- stay one file each.

-- name: ack
-- acknowledge one finding (re-evaluation keeps these columns).
UPDATE findings
SET acknowledged_at = $at, acknowledged_by = $by, acknowledged_note = $note
WHERE id = $id

-- name: candidate_ips
-- the distinct canonical IPs of $org's sessions with id >= $since_id
-- (the addresses the allow-list is checked against before the shared_ip rule runs).
SELECT DISTINCT ip FROM user_sessions
WHERE org = $org AND id >= $since_id AND ip IS NOT NULL
ORDER BY ip

-- name: insert
-- add the staged findings (temp table finding_staged) that are new (their id
-- noted in finding_new_ids by findings_new), with detected_at = $now (the local clock).
INSERT INTO findings (id, org, rule, severity, finding_key, user_ids, session_ids, first_seen,
    last_seen, summary, evidence, detected_at)
SELECT s.id, s.org, s.rule, s.severity, s.finding_key, s.user_ids, s.session_ids, s.first_seen,
    s.last_seen, s.summary, s.evidence, $now
FROM finding_staged AS s
SEMI JOIN finding_new_ids AS n ON n.id = s.id

-- name: list
-- findings for `session-audit findings`, filtered (a NULL parameter: no filter):
-- $org, $since (last_seen at or after), $min_rank (severity at least: info 0, low 1, medium 2,
-- high 3), $rule, $user (one of user_ids). Open findings first, then severity, newest first.
SELECT
    id, rule, severity, org, user_ids, session_ids, first_seen, last_seen, summary,
    evidence, detected_at, acknowledged_at, acknowledged_by, acknowledged_note
FROM findings
WHERE ($org IS NULL OR org = $org)
    AND ($since IS NULL OR last_seen >= $since)
    AND ($min_rank IS NULL
        OR list_position(['info', 'low', 'medium', 'high'], severity) - 1 >= $min_rank)
    AND ($rule IS NULL OR rule = $rule)
    AND ($user IS NULL OR list_contains(user_ids, $user))
ORDER BY acknowledged_at IS NOT NULL, list_position(['info', 'low', 'medium', 'high'], severity)
    DESC, last_seen DESC, id
LIMIT $limit

-- name: macros
-- temporary macros the rules in sql/rules/ share (created on the evaluating
-- connection before the rules run; nothing is stored in the file).
--   great_circle_km(lat1, lon1, lat2, lon2) DOUBLE: haversine distance on a sphere of the mean
--     Earth radius (6,371.0088 km); NULL when a coordinate is NULL (least() would skip it).
--   finding_user_label(name, id) VARCHAR: 'name (id)', or 'user id' when the name is unknown.
--   days_between(a, b) DOUBLE: (b - a) in days.
CREATE OR REPLACE TEMP MACRO great_circle_km(lat1, lon1, lat2, lon2) AS (
    CASE WHEN lat1 IS NOT NULL AND lon1 IS NOT NULL AND lat2 IS NOT NULL AND lon2 IS NOT NULL
    THEN 2 * 6371.0088 * asin(least(1.0, sqrt(
        pow(sin(radians(lat2 - lat1) / 2), 2)
        + cos(radians(lat1)) * cos(radians(lat2)) * pow(sin(radians(lon2 - lon1) / 2), 2)
    ))) END
);
CREATE OR REPLACE TEMP MACRO finding_user_label(name, id) AS (
    CASE WHEN name IS NULL THEN 'user ' || CAST(id AS VARCHAR)
        ELSE name || ' (' || CAST(id AS VARCHAR) || ')' END
);
CREATE OR REPLACE TEMP MACRO days_between(a, b) AS (
    (epoch_ms(b) - epoch_ms(a)) / 86400000.0
);

-- name: match_id
-- ids of findings equal to $id or starting with it (a unique prefix).
SELECT id FROM findings WHERE starts_with(id, $id) ORDER BY id LIMIT 2

-- name: memory_limit
-- lower DuckDB's memory_limit (a setting of the database instance) to
-- $limit (e.g. '1GB') for a findings evaluation (findings_memory_limit_reset restores it).
SET memory_limit = $limit

-- name: memory_limit_current
-- DuckDB's memory_limit as text (e.g. '18.8 GiB'), read before a
-- findings evaluation lowers it.
SELECT current_setting('memory_limit')

-- name: memory_limit_reset
-- DuckDB's memory_limit back to its default after a findings
-- evaluation lowered it (it was the default before: the product never sets it otherwise).
RESET memory_limit

-- name: new
-- remember which staged findings (temp table finding_staged) are not yet in
-- findings, i.e. new, in the temp table finding_new_ids (run before findings_upsert).
INSERT INTO finding_new_ids
SELECT s.id, s.rule, s.severity
FROM finding_staged AS s
ANTI JOIN findings AS f ON f.id = s.id

-- name: new_counts
-- the new findings of one evaluation (temp table finding_new_ids) counted
-- per rule and severity.
SELECT rule, severity, count(*) AS n
FROM finding_new_ids
GROUP BY rule, severity
ORDER BY rule, severity

-- name: new_ids
-- (re)create the empty temp table finding_new_ids (id, rule, severity) that
-- collects the ids of the findings one evaluation writes for the first time.
CREATE OR REPLACE TEMP TABLE finding_new_ids (id VARCHAR, rule VARCHAR, severity VARCHAR)

-- name: new_rows
-- at most $limit of the staged findings (temp table finding_staged) that are new
-- (finding_new_ids), as findings_insert stored them, most severe first, then by rule and id
-- (what the CLI summary, the Prefect artifact and the alert show; the rest are counted, never
-- loaded). A full evaluation stages one rule at a time and merges each rule's rows in this
-- order (session_audit.analysis.findings._most_severe_first).
SELECT s.id, s.org, s.rule, s.severity, s.user_ids, s.session_ids, s.first_seen, s.last_seen,
    s.summary, s.evidence
FROM finding_staged AS s
SEMI JOIN finding_new_ids AS n ON n.id = s.id
ORDER BY list_position(['info', 'low', 'medium', 'high'], s.severity) DESC, s.rule, s.id
LIMIT $limit

-- name: recent_sessions
-- temp view finding_recent_sessions, the rows of user_sessions an
-- evaluation's window can involve (variable session_audit_findings_window, bound by
-- window in sql/queries/findings.sql): every session that starts at or after the window's start or
-- is still running then (its end, or for a session the API reports open the assumed end of the
-- one open-session rule, macro session_assumed_end with the org's newest data, lies after it).
-- With no window (since NULL: a full evaluation) every session. Same columns as user_sessions.
-- Any pair of sessions overlapping at or after the window's start has both sessions here.
-- Written as four disjoint parts, each a range on one column, so that DuckDB skips the row
-- groups outside the window by their min/max (one OR over the columns read every row: 38 ms
-- against 1 ms per evaluation on 10M sessions).
CREATE OR REPLACE TEMP VIEW finding_recent_sessions AS
SELECT * FROM user_sessions
WHERE getvariable('session_audit_findings_window').since IS NULL
UNION ALL
SELECT * FROM user_sessions
WHERE start_time >= getvariable('session_audit_findings_window').since
UNION ALL
SELECT * FROM user_sessions
WHERE start_time < getvariable('session_audit_findings_window').since
    AND end_time > getvariable('session_audit_findings_window').since
UNION ALL
SELECT * FROM user_sessions
WHERE end_time IS NULL
    AND start_time < getvariable('session_audit_findings_window').since
    AND session_assumed_end(start_time, end_time,
        getvariable('session_audit_findings_window').newest)
        > getvariable('session_audit_findings_window').since
    AND start_time > getvariable('session_audit_findings_window').since
        - to_microseconds(CAST(open_session_hours() * 3600000000 AS BIGINT))

-- name: rule_inputs
-- whether ip_geo holds any row the GeoIP rules can use (a cheap look at the
-- whole table, every organisation: an address is global), one flag per rule; a rule whose flag
-- is false finds nothing and an evaluation after an ingest leaves it out of its statement:
--   impossible_travel  a placed address (latitude and longitude)
--   new_country        an address with a country
--   new_asn            an address with an ASN
--   hosting_asn        an address whose ASN is in finding_hosting_asns
SELECT
    coalesce(bool_or(g.latitude IS NOT NULL AND g.longitude IS NOT NULL), false)
        AS impossible_travel,
    coalesce(bool_or(g.country IS NOT NULL), false) AS new_country,
    coalesce(bool_or(g.asn IS NOT NULL), false) AS new_asn,
    coalesce(bool_or(h.asn IS NOT NULL), false) AS hosting_asn
FROM ip_geo AS g
LEFT JOIN finding_hosting_asns AS h ON h.asn = g.asn

-- name: stage
-- the rows of one or more rules with their deterministic id (first 24 hex
-- digits of sha256(rule, org, finding_key) joined by U+001F), org and rule, into the temp table
-- finding_staged. finding_candidates stands for the rules' SELECTs (sql/rules/<rule>.sql), each
-- tagged with its rule name in a first column `rule` and joined by UNION ALL: the evaluator
-- puts them in its place as a subquery (session_audit.analysis.findings), so the rows are
-- materialised once, in DuckDB, never in Python.
CREATE OR REPLACE TEMP TABLE finding_staged AS
SELECT
    substr(sha256(rule || chr(31) || $org || chr(31) || finding_key), 1, 24) AS id,
    $org AS org,
    rule,
    severity,
    finding_key,
    list_sort(CAST(user_ids AS BIGINT[])) AS user_ids,
    list_sort(CAST(session_ids AS BIGINT[])) AS session_ids,
    CAST(first_seen AS TIMESTAMPTZ) AS first_seen,
    CAST(last_seen AS TIMESTAMPTZ) AS last_seen,
    summary,
    evidence
FROM finding_candidates

-- name: staged_add
-- add the rows the side lane of an evaluation after an ingest staged on its own connection
-- (registered Arrow table finding_side_staged, the columns of finding_staged) to this
-- connection's finding_staged.
INSERT INTO finding_staged BY NAME
SELECT * FROM finding_side_staged

-- name: staged_counts
-- the staged rows (temp table finding_staged) per rule.
SELECT rule, count(*) AS n
FROM finding_staged
GROUP BY rule

-- name: staged_from_side
-- the temp table finding_staged made of the side lane's rows alone (registered Arrow table
-- finding_side_staged; staged_add when this connection staged rows too).
CREATE OR REPLACE TEMP TABLE finding_staged AS
SELECT * FROM finding_side_staged

-- name: staged_rows
-- the staged rows (temp table finding_staged), as the side lane hands them over.
SELECT * FROM finding_staged

-- name: table_exists
-- whether the database has the findings table (schema version 5+).
SELECT count(*) > 0 FROM information_schema.tables
WHERE table_schema = 'main' AND table_name = 'findings'

-- name: threads_current
-- DuckDB's threads (a setting of the database instance) and the rows of user_sessions (every
-- organisation: one table), read before the two lanes of an evaluation after an ingest lower
-- the threads by one over a small table (threads_set restores them).
SELECT CAST(current_setting('threads') AS BIGINT) AS threads,
    (SELECT count(*) FROM user_sessions) AS sessions

-- name: threads_set
-- set DuckDB's threads (a setting of the database instance) to $threads.
SET threads = $threads

-- name: upsert
-- write the staged findings (temp table finding_staged) whose id is already in
-- findings: they get the current severity, users, sessions, summary and evidence, their
-- last_seen only grows, and they keep first_seen, detected_at and the acknowledgement. Rows
-- that would not change are left alone. The new ones are added by findings_insert (an UPDATE
-- and a plain INSERT: INSERT .. ON CONFLICT held 1 GB for 262k findings of a 2M-session
-- evaluation, these 650 MB).
UPDATE findings AS f
SET
    severity = s.severity,
    user_ids = s.user_ids,
    session_ids = s.session_ids,
    first_seen = coalesce(f.first_seen, s.first_seen),
    last_seen = greatest(f.last_seen, s.last_seen),
    summary = s.summary,
    evidence = s.evidence
FROM finding_staged AS s
WHERE f.id = s.id
    AND (f.severity, f.user_ids, f.session_ids, f.summary, f.evidence,
        coalesce(f.first_seen, s.first_seen), greatest(f.last_seen, s.last_seen))
        IS DISTINCT FROM (s.severity, s.user_ids, s.session_ids, s.summary, s.evidence,
        f.first_seen, f.last_seen)

-- name: window
-- bind the time window of one evaluation to the connection variable
-- session_audit_findings_window {since, newest} (read by the temp view finding_recent_sessions,
-- recent_sessions in sql/queries/findings.sql, and by rules) from the texts $since and $newest
-- of window_values (computed once, bound on each connection of the evaluation). A connection
-- variable: nothing is written to the file.
SET VARIABLE session_audit_findings_window = {
    'since': CAST($since AS TIMESTAMPTZ),
    'newest': CAST($newest AS TIMESTAMPTZ)
}

-- name: window_values
-- the time window of one evaluation of $org, as texts (exact: a TIMESTAMPTZ's text holds its
-- microseconds and offset; window binds them):
--   since   00:00 UTC of the day of the earliest start among the sessions with id >= $since_id
--           (the new ones); 'infinity' when there is none; NULL for a full evaluation ($full):
--           no window, every session
--   newest  the org's newest data (view data_horizon), the end an open session is assumed to
--           reach at most
SELECT
    CAST(CASE WHEN $full THEN NULL ELSE coalesce(
        timezone('UTC', CAST(CAST(timezone('UTC', min(s.start_time)) AS DATE) AS TIMESTAMP)),
        CAST('infinity' AS TIMESTAMPTZ)
    ) END AS VARCHAR) AS since,
    CAST((SELECT h.newest_data FROM data_horizon AS h WHERE h.org = $org) AS VARCHAR) AS newest
FROM user_sessions AS s
WHERE s.org = $org AND s.id >= $since_id
