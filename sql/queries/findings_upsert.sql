-- findings_upsert: write the staged findings (temp table finding_staged) whose id is already in
-- findings: they get the current severity, users, sessions, summary and evidence, their
-- last_seen only grows, and they keep first_seen, detected_at and the acknowledgement. Rows
-- that would not change are left alone. The new ones are added by findings_insert (an UPDATE
-- and a plain INSERT: INSERT .. ON CONFLICT held 1 GB for 262k findings of a 2M-session
-- evaluation, these 650 MB).
UPDATE findings AS f
SET
    severity = s.severity,
    user_ids = s.user_ids,
    session_ids = s.session_ids,
    first_seen = coalesce(f.first_seen, s.first_seen),
    last_seen = greatest(f.last_seen, s.last_seen),
    summary = s.summary,
    evidence = s.evidence
FROM finding_staged AS s
WHERE f.id = s.id
    AND (f.severity, f.user_ids, f.session_ids, f.summary, f.evidence,
        coalesce(f.first_seen, s.first_seen), greatest(f.last_seen, s.last_seen))
        IS DISTINCT FROM (s.severity, s.user_ids, s.session_ids, s.summary, s.evidence,
        f.first_seen, f.last_seen)
