-- export_filter_until: keep rows whose time column ($time_column, anchored regex naming one
-- column) is before $until (TIMESTAMPTZ, exclusive).
AND COLUMNS($time_column) < $until
