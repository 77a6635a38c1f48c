-- findings_staged_counts: the staged rows (temp table finding_staged) per rule.
SELECT rule, count(*) AS n
FROM finding_staged
GROUP BY rule
