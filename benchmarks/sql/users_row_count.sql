-- users_row_count: users session-audit stored (the findings benchmark's incremental ingest).
SELECT count(*) FROM users
