-- findings_candidate_ips: the distinct canonical IPs of $org's sessions with id >= $since_id
-- (the addresses the allow-list is checked against before the shared_ip rule runs).
SELECT DISTINCT ip FROM user_sessions
WHERE org = $org AND id >= $since_id AND ip IS NOT NULL
ORDER BY ip
