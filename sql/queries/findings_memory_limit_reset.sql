-- findings_memory_limit_reset: DuckDB's memory_limit back to its default after a findings
-- evaluation lowered it (it was the default before: the product never sets it otherwise).
RESET memory_limit
