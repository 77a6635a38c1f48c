-- advance_cursor: move an org's scan cursor to $next_id, never backwards.
-- Parameters: $org, $next_id, $run_id.
INSERT INTO ingest_state (org, next_id, run_id, updated_at)
VALUES ($org, $next_id, $run_id, current_timestamp)
ON CONFLICT (org) DO UPDATE SET
    run_id = CASE WHEN excluded.next_id > next_id THEN excluded.run_id ELSE run_id END,
    updated_at = CASE WHEN excluded.next_id > next_id THEN excluded.updated_at ELSE updated_at END,
    next_id = greatest(next_id, excluded.next_id);
