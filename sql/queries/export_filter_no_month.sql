-- export_filter_no_month: keep rows whose time column ($time_column) is NULL; the last
-- partition file of a large export.
AND COLUMNS($time_column) IS NULL
