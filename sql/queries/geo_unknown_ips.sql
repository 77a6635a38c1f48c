-- geo_unknown_ips: the distinct canonical IPs of user_sessions (all organisations: an address
-- is global) that ip_geo has no row for; only those of sessions with id >= $since_id unless
-- $since_id is NULL.
SELECT DISTINCT s.ip
FROM user_sessions AS s
WHERE s.ip IS NOT NULL
    AND ($since_id IS NULL OR s.id >= $since_id)
    AND NOT EXISTS (SELECT 1 FROM ip_geo AS g WHERE g.ip = s.ip)
ORDER BY s.ip
