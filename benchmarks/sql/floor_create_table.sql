-- floor_create_table: the load floor's one statement. Creates floor_sessions from the registered
-- Arrow table `raw_sessions` (API field names, as polars read them from orjson), typing the
-- timestamps in DuckDB. No validation, no merge, no lineage: the least a loader can do.
CREATE TABLE floor_sessions AS
SELECT
    id,
    userId AS user_id,
    TRY_CAST(startTime AS TIMESTAMPTZ) AS start_time,
    TRY_CAST(endTime AS TIMESTAMPTZ) AS end_time,
    clientAppId AS client_app_id,
    ipAddress AS ip_address,
    appId AS app_id,
    appVersion AS app_version
FROM raw_sessions
