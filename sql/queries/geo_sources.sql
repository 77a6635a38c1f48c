-- geo_sources: the GeoIP files ip_geo was built from, as (kind, sha256, size).
SELECT kind, sha256, size FROM geoip_sources ORDER BY kind
