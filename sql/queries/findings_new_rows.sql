-- findings_new_rows: at most $limit of the new findings of one evaluation (temp table
-- finding_new_ids) as stored, most severe first, then by rule and id (what the CLI summary,
-- the Prefect artifact and the alert show; the rest are counted, never loaded).
SELECT f.id, f.org, f.rule, f.severity, f.user_ids, f.session_ids, f.first_seen, f.last_seen,
    f.summary, f.evidence
FROM findings AS f
SEMI JOIN finding_new_ids AS n ON n.id = f.id
ORDER BY list_position(['info', 'low', 'medium', 'high'], f.severity) DESC, f.rule, f.id
LIMIT $limit
