-- schema_objects: what session_audit.db.migrations last created besides the tables (added in
-- schema version 7). One row, name 'views': the macros of sql/macros and the views of sql/views.
-- digest: sha256 of the schema version and of each macro's and view's name and SQL file text,
-- in creation order. migrate recreates the macros and views only when the running code's
-- digest differs or a view is missing (written in the same transaction as the objects).
-- Deleting the row makes the next writer recreate them all.
CREATE TABLE schema_objects (
    name       VARCHAR PRIMARY KEY,
    digest     VARCHAR NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT current_timestamp
);
