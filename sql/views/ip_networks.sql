-- View ip_networks: every distinct IP text seen in user_sessions, with the canonical address,
-- family and network stored beside it at ingest (sql/schema/user_sessions_ip_v4.sql; computed
-- by Python's ipaddress, once per distinct address). Shows how raw spellings map to one address
-- ('2001:DB8::1' and '2001:db8:0:0:0:0:0:1' -> '2001:db8::1'; '::ffff:1.2.3.4' -> '1.2.3.4').
--
-- Columns:
--   org         VARCHAR  organisation label
--   ip_address  VARCHAR  the IP text exactly as the API sent it (never NULL here)
--   ip          VARCHAR  canonical address: IPv4 dotted quad, or lower-case compressed IPv6; an
--                        IPv4-mapped IPv6 address as its IPv4; NULL when the text is not an IP
--                        address ('', 'unknown', ':1::2', 'fe80::1%', '::ffff:999.1.1.1', ...)
--   ip_family   VARCHAR  'v4' or 'v6' (of ip); NULL when ip is NULL
--   ip_network  VARCHAR  the /24 (v4) or /64 (v6) holding ip, e.g. '1.2.3.0/24',
--                        '2001:db8::/64'; NULL when ip is NULL
CREATE OR REPLACE VIEW ip_networks AS
SELECT DISTINCT org, ip_address, ip, ip_family, ip_network
FROM user_sessions
WHERE ip_address IS NOT NULL
