-- ours_batch_size: the ids per userSession/items call a session-audit database remembers for its
-- API root (api_state; found by batch-size discovery). NULL when none is stored.
SELECT max(batch_size) FROM api_state
