-- export_select: the typed rows of one dataset ($dataset, a name from catalog_datasets).
-- The caller appends export_filter_*.sql fragments (each starts with AND) and export_order.sql.
SELECT *
FROM query_table($dataset) AS src
WHERE TRUE
