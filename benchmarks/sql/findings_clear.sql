-- findings_clear: forget every finding and GeoIP lookup of the query database, so that the
-- findings benchmark's full evaluation is a first one (every address looked up, every finding
-- new). Run before the measured child opens the file.
DELETE FROM findings;
DELETE FROM ip_geo;
DELETE FROM geoip_sources;
