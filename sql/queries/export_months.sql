-- export_months: the UTC months (YYYY-MM, NULL for rows without a timestamp) of $dataset's
-- column matched by the anchored regex $time_column, with row counts, for rows passing the
-- export_filter_*.sql fragments the caller appends; export_months_tail.sql closes it.
SELECT
    strftime(timezone('UTC', CAST(COLUMNS($time_column) AS TIMESTAMPTZ)), '%Y-%m') AS month,
    count(*) AS row_count
FROM query_table($dataset) AS src
WHERE TRUE
