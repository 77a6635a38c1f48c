-- floor_row_count: rows the load floor stored.
SELECT count(*) FROM floor_sessions
