-- findings_upsert: write the staged findings. A new id is inserted with detected_at = $now; an
-- existing one gets the current severity, users, sessions, summary and evidence, its last_seen
-- only grows, and it keeps first_seen, detected_at and its acknowledgement.
INSERT INTO findings (id, org, rule, severity, finding_key, user_ids, session_ids, first_seen,
    last_seen, summary, evidence, detected_at)
SELECT id, org, rule, severity, finding_key, user_ids, session_ids, first_seen, last_seen,
    summary, evidence, $now
FROM finding_staged
ON CONFLICT (id) DO UPDATE SET
    severity = excluded.severity,
    user_ids = excluded.user_ids,
    session_ids = excluded.session_ids,
    first_seen = coalesce(findings.first_seen, excluded.first_seen),
    last_seen = greatest(findings.last_seen, excluded.last_seen),
    summary = excluded.summary,
    evidence = excluded.evidence
