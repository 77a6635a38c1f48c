"""DuckDB storage: SQL file loading, connections, migrations, views and data checks."""
