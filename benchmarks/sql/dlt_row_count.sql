-- dlt_row_count: rows a dlt pipeline stored in its merge table (dataset "sessions").
SELECT count(*) FROM sessions.user_sessions
