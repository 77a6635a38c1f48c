-- migrations: the statements of session_audit.db.migrations besides the schema files:
-- the version ledger (schema_migrations), the canonical-IP backfill of schema 4, and the
-- digests that tell whether the macros and views must be recreated (schema_objects, schema 7).

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

-- name: objects_digest
-- the digest recorded when the macros and views were last created (schema 7's
-- schema_objects; no row before the first creation). Parameters: $name ('views').
SELECT digest FROM schema_objects WHERE name = $name;

-- name: record_objects_digest
-- remember the digest of the macros and views just created, in the same
-- transaction. Parameters: $name ('views'), $digest.
INSERT INTO schema_objects AS o (name, digest, created_at)
VALUES ($name, $digest, current_timestamp)
ON CONFLICT (name) DO UPDATE SET
    digest = excluded.digest,
    created_at = excluded.created_at;

-- name: views_present
-- how many of the views named in $names (a VARCHAR[]) exist as persistent views
-- of the main schema (one dropped by hand is missing).
SELECT count(*)
FROM duckdb_views()
WHERE database_name = current_database()
    AND schema_name = 'main'
    AND NOT temporary
    AND list_contains($names, view_name);
