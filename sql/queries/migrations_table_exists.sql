-- migrations_table_exists: true when the schema_migrations table exists in the main schema.
SELECT count(*) > 0
FROM duckdb_tables()
WHERE schema_name = 'main' AND table_name = 'schema_migrations';
