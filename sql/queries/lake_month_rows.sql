-- lake_month_rows: the user_sessions rows of one org and one UTC month (YYYY-MM) of start_time,
-- in id order, as written to the lake partition org=<org>/month=<month>/. The partition
-- columns (org, month) come from the path. Parameters: $org, $month.
SELECT
    id,
    user_id,
    start_time,
    end_time,
    client_app_id,
    ip_address,
    app_id,
    app_version,
    anomalies,
    first_run_id,
    last_run_id,
    loaded_at,
    updated_at,
    ip,
    ip_family,
    ip_network
FROM user_sessions
WHERE org = $org AND strftime(timezone('UTC', start_time), '%Y-%m') = $month
ORDER BY id;
