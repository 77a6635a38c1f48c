-- set_cursor_if_absent: give an org its first scan cursor; an existing cursor is kept.
-- Parameters: $org, $next_id, $run_id.
INSERT INTO ingest_state (org, next_id, run_id, updated_at)
VALUES ($org, $next_id, $run_id, current_timestamp)
ON CONFLICT (org) DO NOTHING;
