-- record_migration: mark a schema version as applied. Parameters: version, description.
INSERT INTO schema_migrations (version, description) VALUES (?, ?);
