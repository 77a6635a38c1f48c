-- get_api_state: what earlier runs learned about an API root. Parameters: $base_url.
SELECT a.batch_size, a.rejected_at FROM api_state AS a WHERE a.base_url = $base_url;
