-- geo_clear: forget ip_geo and the files it came from (a configured GeoIP file changed).
DELETE FROM ip_geo;
DELETE FROM geoip_sources;
