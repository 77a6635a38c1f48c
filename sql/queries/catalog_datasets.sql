-- catalog_datasets: every table and view of the database's main schema that export accepts,
-- as (name, kind) with kind 'table' or 'view'. The export whitelist of dataset names.
SELECT
    table_name AS name,
    CASE table_type WHEN 'VIEW' THEN 'view' ELSE 'table' END AS kind
FROM information_schema.tables
WHERE table_catalog = current_database()
    AND table_schema = 'main'
ORDER BY name
