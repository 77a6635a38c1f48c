-- distinct_ip_texts: every distinct raw ip_address stored in user_sessions (any org), for the
-- schema-4 backfill of the canonical ip columns (computed in Python once per address).
SELECT DISTINCT ip_address
FROM user_sessions
WHERE ip_address IS NOT NULL
