-- backfill_canonical_ip: set ip, ip_family, ip_network of stored sessions from the registered
-- frame `ip_backfill` (ip_address, ip, ip_family, ip_network: one row per valid distinct
-- address). Rows whose ip_address is not an IP keep NULLs. Lineage columns are not touched:
-- the values sent by the API did not change.
UPDATE user_sessions
SET ip = b.ip, ip_family = b.ip_family, ip_network = b.ip_network
FROM ip_backfill AS b
WHERE user_sessions.ip_address = b.ip_address
