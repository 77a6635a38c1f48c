-- canonical_ip_inconsistent: sessions whose canonical IP columns (schema 4: ip, ip_family,
-- ip_network, computed from ip_address at ingest) disagree with the raw text or the
-- 'ip_not_parseable' flag: an IP without raw text, a raw text that is neither canonical nor
-- flagged (or both), the three columns not NULL together, or a family other than v4/v6.
SELECT org, id, ip_address, ip, ip_family, ip_network, anomalies
FROM user_sessions
WHERE (ip_address IS NULL AND ip IS NOT NULL)
   OR (ip_address IS NOT NULL AND (ip IS NULL) <> list_contains(anomalies, 'ip_not_parseable'))
   OR (ip IS NULL) <> (ip_family IS NULL)
   OR (ip IS NULL) <> (ip_network IS NULL)
   OR ip_family NOT IN ('v4', 'v6');
