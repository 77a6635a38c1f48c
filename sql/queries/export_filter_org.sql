-- export_filter_org: keep rows of one organisation: $org_column (anchored regex naming one
-- column) equals $org.
AND COLUMNS($org_column) = $org
