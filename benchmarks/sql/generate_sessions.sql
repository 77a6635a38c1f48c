-- generate_sessions: $n synthetic sessions of $users users appended to user_sessions (org
-- 'default', ids 1..$n in start-time order, as an ingest stores them), deterministic (hash of
-- the row number). Shape: about 500 sessions per user over one year; each user logs in from 3
-- home IPs, 1 session in 8 comes from one of 2,000 shared IPs (offices, VPNs); 1 IP in 10 is
-- IPv6; 4 apps with 6 versions each; sessions last 0-8 hours; 1 in 40 is still open.
-- The canonical IP columns (ip, ip_family, ip_network) are left NULL here and filled afterwards
-- by the product's own schema-4 backfill (session_audit.db.migrations.backfill_canonical_ip), so
-- they are exactly what an ingest would store. Likewise app_version_daily_rollup (read by the
-- view app_version_daily) is filled afterwards by the rebuild the schema-6 migration runs
-- (session_audit.db.app_version_rollup.rebuild), as an ingest would have kept it.
-- Parameters: $n, $users.
INSERT INTO user_sessions (org, id, user_id, start_time, end_time, client_app_id, ip_address,
                           app_id, app_version, anomalies, first_run_id, last_run_id, loaded_at,
                           updated_at)
SELECT
    'default' AS org,
    i AS id,
    u AS user_id,
    start_ts AS start_time,
    CASE WHEN hash(i * 8 + 0) % 40 = 0 THEN NULL
        ELSE start_ts + to_milliseconds(CAST(hash(i * 8 + 1) % 28800000 AS BIGINT)) END
        AS end_time,
    app AS client_app_id,
    CASE
        WHEN ip_slot = 3 THEN
            '100.64.' || CAST(shared // 250 AS VARCHAR) || '.' || CAST(1 + shared % 250 AS VARCHAR)
        WHEN home % 10 = 0 THEN
            '2001:db8:' || printf('%x', home // 65536 % 65536) || ':' || printf('%x', home % 65536)
            || '::' || printf('%x', hash(home) % 65536)
        ELSE
            CAST(10 + home // 16777216 % 200 AS VARCHAR) || '.' || CAST(home // 65536 % 256 AS VARCHAR)
            || '.' || CAST(home // 256 % 256 AS VARCHAR) || '.' || CAST(home % 256 AS VARCHAR)
    END AS ip_address,
    'app_' || CAST(app AS VARCHAR) AS app_id,
    CAST(1 + app % 3 AS VARCHAR) || '.' || CAST(hash(i * 8 + 2) % 6 AS VARCHAR) || '.0'
        AS app_version,
    []::VARCHAR[] AS anomalies,
    1 AS first_run_id,
    1 AS last_run_id,
    start_ts AS loaded_at,
    start_ts AS updated_at
FROM (
    SELECT
        i,
        u,
        CAST(hash(i * 8 + 3) % 8 AS BIGINT) AS ip_slot,
        CAST(hash(i * 8 + 4) % 2000 AS BIGINT) AS shared,
        CAST(u * 3 + hash(i * 8 + 5) % 3 AS BIGINT) * 7919 AS home,
        CAST(1 + hash(u * 8 + 6) % 4 AS BIGINT) AS app,
        TIMESTAMPTZ '2025-01-01 00:00:00+00'
            + to_milliseconds(CAST(i * (31536000000 // $n) AS BIGINT)) AS start_ts
    FROM (
        SELECT range + 1 AS i, CAST(1 + hash(range * 8 + 7) % $users AS BIGINT) AS u
        FROM range($n)
    )
)
