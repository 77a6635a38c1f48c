-- schema_version: the highest applied schema version (NULL when none).
SELECT max(version) FROM schema_migrations;
