-- coverage_summary: the coverage verdict of `session-audit report` and the demo (one row):
-- users observed in user_session_stats (latest observation each, view user_coverage), how many
-- are not covered (rows of coverage_gaps) and the newest API-reported lastSessionTime among
-- them, up to which the trail is complete when nothing is missing. $org: one org or NULL.
SELECT
    count(*) AS users,
    count(*) FILTER (WHERE NOT covered) AS gaps,
    max(last_session_time) AS covered_until
FROM user_coverage
WHERE $org IS NULL OR org = $org
