-- findings_memory_limit_current: DuckDB's memory_limit as text (e.g. '18.8 GiB'), read before a
-- findings evaluation lowers it.
SELECT current_setting('memory_limit')
