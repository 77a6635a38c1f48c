-- catalog: the queries of session_audit.analysis.catalog (the export whitelist:
-- which tables and views exist, and their columns).

-- name: datasets
-- every table and view of the database's main schema that export accepts,
-- as (name, kind) with kind 'table' or 'view'. The export whitelist of dataset names.
SELECT
    table_name AS name,
    CASE table_type WHEN 'VIEW' THEN 'view' ELSE 'table' END AS kind
FROM information_schema.tables
WHERE table_catalog = current_database()
    AND table_schema = 'main'
ORDER BY name

-- name: columns
-- the columns of one table or view of the main schema, in order.
-- $name: the dataset name (already checked against the datasets query above).
SELECT column_name AS name, data_type AS type
FROM information_schema.columns
WHERE table_catalog = current_database()
    AND table_schema = 'main'
    AND table_name = $name
ORDER BY ordinal_position
