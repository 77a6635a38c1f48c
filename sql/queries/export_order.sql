-- export_order: deterministic order for export: by the whole typed row (every column, left to
-- right, NULLs last), so equal data always gives the same file.
ORDER BY src
