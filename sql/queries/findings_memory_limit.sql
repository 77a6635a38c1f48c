-- findings_memory_limit: lower DuckDB's memory_limit (a setting of the database instance) to
-- $limit (e.g. '1GB') for a findings evaluation (findings_memory_limit_reset restores it).
SET memory_limit = $limit
