-- catalog_columns: the columns of one table or view of the main schema, in order.
-- $name: the dataset name (already checked against catalog_datasets).
SELECT column_name AS name, data_type AS type
FROM information_schema.columns
WHERE table_catalog = current_database()
    AND table_schema = 'main'
    AND table_name = $name
ORDER BY ordinal_position
