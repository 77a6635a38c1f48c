-- migrations: the statements of session_audit.db.migrations besides the schema files:
-- the version ledger (schema_migrations) and the canonical-IP backfill of schema 4.

-- name: table_exists
-- true when the schema_migrations table exists in the main schema.
SELECT count(*) > 0
FROM duckdb_tables()
WHERE schema_name = 'main' AND table_name = 'schema_migrations';

-- name: schema_version
-- the highest applied schema version (NULL when none).
SELECT max(version) FROM schema_migrations;

-- name: record
-- mark a schema version as applied. Parameters: version, description.
INSERT INTO schema_migrations (version, description) VALUES (?, ?);

-- name: distinct_ip_texts
-- every distinct raw ip_address stored in user_sessions (any org), for the
-- schema-4 backfill of the canonical ip columns (computed in Python once per address).
SELECT DISTINCT ip_address
FROM user_sessions
WHERE ip_address IS NOT NULL

-- name: backfill_canonical_ip
-- set ip, ip_family, ip_network of stored sessions from the registered
-- frame `ip_backfill` (ip_address, ip, ip_family, ip_network: one row per valid distinct
-- address). Rows whose ip_address is not an IP keep NULLs. Lineage columns are not touched:
-- the values sent by the API did not change.
UPDATE user_sessions
SET ip = b.ip, ip_family = b.ip_family, ip_network = b.ip_network
FROM ip_backfill AS b
WHERE user_sessions.ip_address = b.ip_address
