-- app_version_rollup_touched_days: the (org, UTC day) keys of app_version_daily_rollup that
-- merging the registered frame `rollup_staged` (org, id, user_id, start_time, app_id,
-- app_version of one checkpoint; ids unique) into user_sessions will change. Run BEFORE the
-- merge, in its transaction, so that the stored values are still the old ones:
--   * a new id: the day of its start;
--   * a stored id whose user_id, start_time, app_id or app_version differs from the staged
--     row: the day of the stored start (its old contribution goes) and of the staged one;
--   * a stored id whose rollup values are the same (a re-fetch that only closed the session,
--     or changed its IP): nothing.
-- Parameters: $lo, $hi = the lowest and highest staged id (prunes row groups like the merge).
WITH pairs AS (
    SELECT
        s.org,
        s.start_time AS new_start,
        t.start_time AS old_start,
        t.id IS NULL AS is_new
    FROM rollup_staged AS s
    LEFT JOIN user_sessions AS t
        ON t.org = s.org AND t.id = s.id AND t.id BETWEEN $lo AND $hi
    WHERE t.id IS NULL
        OR t.user_id IS DISTINCT FROM s.user_id
        OR t.start_time IS DISTINCT FROM s.start_time
        OR t.app_id IS DISTINCT FROM s.app_id
        OR t.app_version IS DISTINCT FROM s.app_version
),
starts AS (
    SELECT org, new_start AS start_time FROM pairs
    UNION ALL
    SELECT org, old_start FROM pairs WHERE NOT is_new
)
SELECT DISTINCT
    org,
    DATE '1970-01-01' + CAST(floor(epoch_us(start_time) / 86400000000) AS INTEGER) AS day
FROM starts
ORDER BY org, day
