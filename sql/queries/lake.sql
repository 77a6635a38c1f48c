-- lake: the statements of session_audit.scale.lake (monthly Parquet files of the sessions).

-- name: months
-- per UTC month of start_time, the row count and newest updated_at of one org's
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

-- name: month_rows
-- the user_sessions rows of one org and one UTC month (YYYY-MM) of start_time,
-- in id order, as written to the lake partition org=<org>/month=<month>/. Every column of the
-- table but org (the partition columns org and month come from the path), in table order, so a
-- field added to the table (session_audit.session_row) reaches the lake with no edit here.
-- Parameters: $org, $month.
SELECT * EXCLUDE (org)
FROM user_sessions
WHERE org = $org AND strftime(timezone('UTC', start_time), '%Y-%m') = $month
ORDER BY id;
