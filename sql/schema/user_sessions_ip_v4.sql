-- user_sessions_ip_v4 (schema version 4): the canonical form of ip_address beside the raw text,
-- so that every view groups and compares IP addresses on one spelling per address.
--   ip          VARCHAR  canonical text: IPv4 dotted quad, or lower-case compressed IPv6; an
--                        IPv4-mapped IPv6 address (::ffff:1.2.3.4) as its IPv4; a scoped IPv6
--                        address without its %zone. NULL when ip_address is NULL or not an IP
--                        address ('', 'unknown', ':1::2', 'fe80::1%', '::ffff:999.1.1.1', ...)
--   ip_family   VARCHAR  'v4' or 'v6' (of ip); NULL with ip
--   ip_network  VARCHAR  the /24 (v4) or /64 (v6) holding ip, e.g. '1.2.3.0/24',
--                        '2001:db8::/64'; NULL with ip
-- Computed at ingest by session_audit.ingest.normalize.canonical_ip (Python ipaddress, once per
-- distinct address); rows stored before version 4 are backfilled by the migration with the
-- same function. ip_address itself is never altered.
ALTER TABLE user_sessions ADD COLUMN ip VARCHAR;
ALTER TABLE user_sessions ADD COLUMN ip_family VARCHAR;
ALTER TABLE user_sessions ADD COLUMN ip_network VARCHAR;
