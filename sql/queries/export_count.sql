-- export_count: how many rows of $dataset pass the filters appended after it
-- (export_filter_*.sql fragments).
SELECT count(*) AS row_count
FROM query_table($dataset) AS src
WHERE TRUE
