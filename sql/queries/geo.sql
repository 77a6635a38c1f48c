-- geo: the statements of session_audit.analysis.geo (the ip_geo table: which MMDB files it
-- was built from, which IPs still need a lookup, the rows looked up).

-- name: clear
-- forget ip_geo and the files it came from (a configured GeoIP file changed).
DELETE FROM ip_geo;
DELETE FROM geoip_sources;

-- name: insert
-- add the looked-up rows of the registered frame geo_staged to ip_geo.
INSERT INTO ip_geo BY NAME SELECT * FROM geo_staged

-- name: source_insert
-- record one GeoIP file ip_geo is (re)built from.
INSERT INTO geoip_sources (kind, path, database_type, built_at, sha256, size)
VALUES ($kind, $path, $database_type, $built_at, $sha256, $size)

-- name: sources
-- the GeoIP files ip_geo was built from, as (kind, sha256, size, path, loaded_at):
-- a configured file at the same path, of the same size and not modified since loaded_at is
-- taken to be the same file without hashing it again (analysis/geo.py open_sources).
SELECT kind, sha256, size, path, loaded_at FROM geoip_sources ORDER BY kind

-- name: unknown_ips
-- the distinct canonical IPs of user_sessions (all organisations: an address
-- is global) that ip_geo has no row for; only those of sessions with id >= $since_id unless
-- $since_id is NULL.
SELECT DISTINCT s.ip
FROM user_sessions AS s
WHERE s.ip IS NOT NULL
    AND ($since_id IS NULL OR s.id >= $since_id)
    AND NOT EXISTS (SELECT 1 FROM ip_geo AS g WHERE g.ip = s.ip)
ORDER BY s.ip
