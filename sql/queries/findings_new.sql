-- findings_new: the staged findings (finding_staged) not yet in findings, i.e. new ones.
SELECT id, org, rule, severity, user_ids, session_ids, first_seen, last_seen, summary, evidence
FROM finding_staged AS s
WHERE NOT EXISTS (SELECT 1 FROM findings AS f WHERE f.id = s.id)
ORDER BY id
