-- findings_new: remember which staged findings (temp table finding_staged) are not yet in
-- findings, i.e. new, in the temp table finding_new_ids (run before findings_upsert).
INSERT INTO finding_new_ids
SELECT s.id, s.rule, s.severity
FROM finding_staged AS s
ANTI JOIN findings AS f ON f.id = s.id
