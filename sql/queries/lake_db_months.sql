-- lake_db_months: per UTC month of start_time, the row count and newest updated_at of one org's
-- user_sessions: the fingerprint the Parquet lake compares to decide which partitions to
-- rewrite. Parameters: $org.
SELECT
    strftime(timezone('UTC', start_time), '%Y-%m') AS month,
    count(*) AS row_count,
    CAST(epoch_ms(max(updated_at)) AS BIGINT) AS last_update_ms
FROM user_sessions
WHERE org = $org
GROUP BY month
ORDER BY month;
