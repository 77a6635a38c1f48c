-- ip_user_rollup_before: make the findings database look as it did before the ingest of the
-- sessions with id >= $since_id: those become sessions of a later run (first_run_id = the
-- highest + 1), and ip_user_rollup with its state holds only the earlier ones (as the
-- evaluation after the earlier ingest left it), so that the measured evaluation adds the new
-- sessions to the rollup as it would after their ingest. Mirrors session_audit.db.ip_user_rollup
-- (fill, totals) for org 'default'.
UPDATE user_sessions
SET first_run_id = (SELECT coalesce(max(first_run_id), 0) + 1 FROM user_sessions)
WHERE org = 'default' AND id >= $since_id;
DELETE FROM ip_user_rollup WHERE org = 'default';
INSERT INTO ip_user_rollup (org, ip, user_id, first_start, first_id, last_start, sessions)
SELECT org, ip, user_id,
    min(start_time),
    arg_min(id, CAST(epoch_us(start_time) AS HUGEINT) * 18446744073709551616 + id),
    max(start_time),
    count(*)
FROM user_sessions
WHERE org = 'default' AND ip IS NOT NULL AND id < $since_id
GROUP BY org, ip, user_id;
INSERT OR REPLACE INTO ip_user_rollup_state (org, through_run, sessions, checksum)
SELECT 'default', max(first_run_id), count(*),
    coalesce(sum(CAST(hash(id, ip, user_id, start_time) AS HUGEINT)), 0)
FROM user_sessions
WHERE org = 'default' AND ip IS NOT NULL AND id < $since_id;
