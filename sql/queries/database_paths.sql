-- database_paths: the file of every database attached to the connection (NULL for in-memory
-- ones), so export can refuse an --out folder that holds the database it reads.
SELECT d.path
FROM duckdb_databases() AS d
WHERE NOT d.internal
