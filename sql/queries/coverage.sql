-- coverage: the queries of session_audit.analysis.coverage (the coverage verdict of
-- `session-audit report` and the demo).

-- name: summary
-- the coverage verdict of `session-audit report` and the demo (one row):
-- users observed in user_session_stats (latest observation each, view user_coverage), how many
-- are not covered (rows of coverage_gaps) and the newest API-reported lastSessionTime among
-- them, up to which the trail is complete when nothing is missing. $org: one org or NULL.
SELECT
    count(*) AS users,
    count(*) FILTER (WHERE NOT covered) AS gaps,
    max(last_session_time) AS covered_until
FROM user_coverage
WHERE $org IS NULL OR org = $org

-- name: gap_users
-- the users not covered (view coverage_gaps), most recent gap first, for the
-- coverage line of the report and the demo. $org: one org or NULL; $limit: how many rows.
SELECT org, user_id, user_name, last_session_time, newest_session_start, observed_at
FROM coverage_gaps
WHERE $org IS NULL OR org = $org
ORDER BY last_session_time DESC, org, user_id
LIMIT $limit
