-- report_users_at_risk: users with at least one risk flag, most flags first (report table).
-- $org: one organisation or NULL for all; $limit: how many rows.
SELECT org, user_id, user_name, status, failed_passwords, ip_count, shared_ip_count,
    concurrency_incidents, last_login, risk_flags
FROM user_risk_summary
WHERE len(risk_flags) > 0 AND ($org IS NULL OR org = $org)
ORDER BY len(risk_flags) DESC, concurrency_incidents DESC, shared_ip_count DESC,
    coalesce(failed_passwords, 0) DESC, user_id
LIMIT $limit
