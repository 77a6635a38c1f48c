-- findings_table_exists: whether the database has the findings table (schema version 5+).
SELECT count(*) > 0 FROM information_schema.tables
WHERE table_schema = 'main' AND table_name = 'findings'
