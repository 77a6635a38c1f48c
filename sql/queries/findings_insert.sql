-- findings_insert: add the staged findings (temp table finding_staged) that are new (their id
-- noted in finding_new_ids by findings_new), with detected_at = $now (the local clock).
INSERT INTO findings (id, org, rule, severity, finding_key, user_ids, session_ids, first_seen,
    last_seen, summary, evidence, detected_at)
SELECT s.id, s.org, s.rule, s.severity, s.finding_key, s.user_ids, s.session_ids, s.first_seen,
    s.last_seen, s.summary, s.evidence, $now
FROM finding_staged AS s
SEMI JOIN finding_new_ids AS n ON n.id = s.id
