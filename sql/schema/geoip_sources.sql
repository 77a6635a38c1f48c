-- geoip_sources (schema version 5): the GeoIP database files ip_geo was built from, one row per
-- kind ('city', 'asn'). sha256 and size identify the file's content: when the configured file
-- of a kind differs (another file, a new build, or none any more) ip_geo is rebuilt.
--   kind           VARCHAR      'city' or 'asn'
--   path           VARCHAR      the file as configured (SESSION_AUDIT_GEOIP_CITY_DB / _ASN_DB)
--   database_type  VARCHAR      the MMDB metadata database_type (e.g. 'GeoLite2-City')
--   built_at       TIMESTAMPTZ  the MMDB metadata build_epoch
--   sha256         VARCHAR      hex digest of the file
--   size           BIGINT       bytes
--   loaded_at      TIMESTAMPTZ  when ip_geo was (re)built from it
CREATE TABLE geoip_sources (
    kind          VARCHAR PRIMARY KEY,
    path          VARCHAR NOT NULL,
    database_type VARCHAR,
    built_at      TIMESTAMPTZ,
    sha256        VARCHAR NOT NULL,
    size          BIGINT NOT NULL,
    loaded_at     TIMESTAMPTZ NOT NULL DEFAULT current_timestamp
);
