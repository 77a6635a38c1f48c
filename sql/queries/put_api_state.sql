-- put_api_state: remember the ids-per-call an API root accepts ($batch_size) and the smallest
-- size it rejected ($rejected_at, NULL if none). Parameters: $base_url, $batch_size, $rejected_at.
INSERT INTO api_state AS a (base_url, batch_size, rejected_at, updated_at)
VALUES ($base_url, $batch_size, $rejected_at, current_timestamp)
ON CONFLICT (base_url) DO UPDATE SET
    batch_size = excluded.batch_size,
    rejected_at = excluded.rejected_at,
    updated_at = excluded.updated_at;
