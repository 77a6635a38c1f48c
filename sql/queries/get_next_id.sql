-- get_next_id: the scan cursor of an org (no row: never scanned). Parameters: $org.
SELECT next_id FROM ingest_state WHERE org = $org;
