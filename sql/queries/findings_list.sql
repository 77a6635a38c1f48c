-- findings_list: findings for `session-audit findings`, filtered (a NULL parameter: no filter):
-- $org, $since (last_seen at or after), $min_rank (severity at least: info 0, low 1, medium 2,
-- high 3), $rule, $user (one of user_ids). Open findings first, then severity, newest first.
SELECT
    id, rule, severity, org, user_ids, session_ids, first_seen, last_seen, summary,
    evidence, detected_at, acknowledged_at, acknowledged_by, acknowledged_note
FROM findings
WHERE ($org IS NULL OR org = $org)
    AND ($since IS NULL OR last_seen >= $since)
    AND ($min_rank IS NULL
        OR list_position(['info', 'low', 'medium', 'high'], severity) - 1 >= $min_rank)
    AND ($rule IS NULL OR rule = $rule)
    AND ($user IS NULL OR list_contains(user_ids, $user))
ORDER BY acknowledged_at IS NOT NULL, list_position(['info', 'low', 'medium', 'high'], severity)
    DESC, last_seen DESC, id
LIMIT $limit
