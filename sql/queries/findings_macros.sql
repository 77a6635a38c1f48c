-- findings_macros: temporary macros the rules in sql/rules/ share (created on the evaluating
-- connection before the rules run; nothing is stored in the file).
--   great_circle_km(lat1, lon1, lat2, lon2) DOUBLE: haversine distance on a sphere of the mean
--     Earth radius (6,371.0088 km); NULL when a coordinate is NULL (least() would skip it).
--   finding_user_label(name, id) VARCHAR: 'name (id)', or 'user id' when the name is unknown.
--   days_between(a, b) DOUBLE: (b - a) in days.
CREATE OR REPLACE TEMP MACRO great_circle_km(lat1, lon1, lat2, lon2) AS (
    CASE WHEN lat1 IS NOT NULL AND lon1 IS NOT NULL AND lat2 IS NOT NULL AND lon2 IS NOT NULL
    THEN 2 * 6371.0088 * asin(least(1.0, sqrt(
        pow(sin(radians(lat2 - lat1) / 2), 2)
        + cos(radians(lat1)) * cos(radians(lat2)) * pow(sin(radians(lon2 - lon1) / 2), 2)
    ))) END
);
CREATE OR REPLACE TEMP MACRO finding_user_label(name, id) AS (
    CASE WHEN name IS NULL THEN 'user ' || CAST(id AS VARCHAR)
        ELSE name || ' (' || CAST(id AS VARCHAR) || ')' END
);
CREATE OR REPLACE TEMP MACRO days_between(a, b) AS (
    (epoch_ms(b) - epoch_ms(a)) / 86400000.0
);
