-- export_filter_since: keep rows whose time column ($time_column, anchored regex naming one
-- column) is at or after $since (TIMESTAMPTZ, inclusive).
AND COLUMNS($time_column) >= $since
