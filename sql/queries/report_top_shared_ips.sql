-- report_top_shared_ips: the IP addresses used by the most distinct users (report chart).
-- $org: one organisation or NULL for all; $limit: how many rows.
SELECT org, address, ip_family, users, user_ids, sessions, first_shared, last_seen
FROM shared_ips
WHERE kind = 'ip' AND ($org IS NULL OR org = $org)
ORDER BY users DESC, sessions DESC, address
LIMIT $limit
