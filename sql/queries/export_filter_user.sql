-- export_filter_user: keep rows of one user: $user_column (anchored regex naming one column)
-- equals $user_id.
AND COLUMNS($user_column) = $user_id
