-- export_select_csv: the rows of one dataset ($dataset) rendered as CSV text by csv_safe
-- (csv_safe_macro.sql must have run on the connection). The caller appends export_filter_*.sql
-- fragments and export_order.sql; ordering uses the typed row (src), not the text.
SELECT csv_safe(COLUMNS(*))
FROM query_table($dataset) AS src
WHERE TRUE
