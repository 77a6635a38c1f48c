-- report_findings: the open (unacknowledged) findings for the top of the HTML report, most
-- severe and newest first, at most $limit, each with the number of open findings of its
-- severity (open_of_severity); $org NULL: every organisation. $since/$until: the report period
-- (NULL = open side): findings whose first_seen..last_seen span overlaps it.
SELECT
    org, id, rule, severity, user_ids, session_ids, last_seen, summary,
    count(*) OVER (PARTITION BY severity) AS open_of_severity
FROM findings
WHERE acknowledged_at IS NULL AND ($org IS NULL OR org = $org)
    AND ($since IS NULL OR last_seen >= $since)
    AND ($until IS NULL OR first_seen < $until)
ORDER BY list_position(['info', 'low', 'medium', 'high'], severity) DESC, last_seen DESC, id
LIMIT $limit
