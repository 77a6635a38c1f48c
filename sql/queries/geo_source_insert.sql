-- geo_source_insert: record one GeoIP file ip_geo is (re)built from.
INSERT INTO geoip_sources (kind, path, database_type, built_at, sha256, size)
VALUES ($kind, $path, $database_type, $built_at, $sha256, $size)
