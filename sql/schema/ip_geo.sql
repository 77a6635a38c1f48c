-- ip_geo (schema version 5): what the user's GeoIP databases (MMDB files: MaxMind GeoLite2/
-- GeoIP2 City and ASN, or DB-IP lite) say about each distinct canonical IP of user_sessions
-- (column user_sessions.ip). Filled by session_audit.analysis.geo.refresh_ip_geo: every IP is
-- looked up once; an IP the databases do not know keeps a row of NULLs (so it is not looked up
-- again). When a database file changes (sha256 differs from geoip_sources) every row is looked
-- up again. Without database files the table stays empty and the rules that need it are
-- skipped. The address is global, not per organisation: there is no org column.
--   ip                   VARCHAR      canonical address (user_sessions.ip)
--   country              VARCHAR      ISO 3166-1 alpha-2 code of the country (registered
--                                     country when the database names no country)
--   subdivision          VARCHAR      first subdivision (state, region), English name
--   city                 VARCHAR      city, English name
--   latitude, longitude  DOUBLE       approximate location (degrees)
--   accuracy_radius      INTEGER      km around the location the address is likely within
--   asn                  BIGINT       autonomous system number
--   as_org               VARCHAR      its organisation
--   city_database        VARCHAR      database_type of the City database used (NULL: none)
--   city_database_built  TIMESTAMPTZ  its build date (metadata build_epoch)
--   asn_database         VARCHAR      database_type of the ASN database used (NULL: none)
--   asn_database_built   TIMESTAMPTZ  its build date
--   looked_up_at         TIMESTAMPTZ  when this row was written
CREATE TABLE ip_geo (
    ip                  VARCHAR PRIMARY KEY,
    country             VARCHAR,
    subdivision         VARCHAR,
    city                VARCHAR,
    latitude            DOUBLE,
    longitude           DOUBLE,
    accuracy_radius     INTEGER,
    asn                 BIGINT,
    as_org              VARCHAR,
    city_database       VARCHAR,
    city_database_built TIMESTAMPTZ,
    asn_database        VARCHAR,
    asn_database_built  TIMESTAMPTZ,
    looked_up_at        TIMESTAMPTZ NOT NULL DEFAULT current_timestamp
);
