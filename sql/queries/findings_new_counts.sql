-- findings_new_counts: the new findings of one evaluation (temp table finding_new_ids) counted
-- per rule and severity.
SELECT rule, severity, count(*) AS n
FROM finding_new_ids
GROUP BY rule, severity
ORDER BY rule, severity
