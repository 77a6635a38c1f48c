-- export_filter_month: keep rows whose time column ($time_column) falls in the UTC month $month
-- ('YYYY-MM'); one partition file of a large export.
AND strftime(timezone('UTC', CAST(COLUMNS($time_column) AS TIMESTAMPTZ)), '%Y-%m') = $month
