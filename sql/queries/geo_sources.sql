-- geo_sources: the GeoIP files ip_geo was built from, as (kind, sha256, size, path, loaded_at):
-- a configured file at the same path, of the same size and not modified since loaded_at is
-- taken to be the same file without hashing it again (analysis/geo.py open_sources).
SELECT kind, sha256, size, path, loaded_at FROM geoip_sources ORDER BY kind
