-- views: the statements session_audit.db.views runs on a connection before the views are read.

-- name: set_open_session_hours
-- the open-session rule of this connection (read by the macro
-- open_session_hours(), see sql/macros/open_session_hours.sql). $hours: DOUBLE > 0. A
-- connection variable, so it works on read-only connections and never changes the file.
SET VARIABLE session_audit_open_session_hours = CAST($hours AS DOUBLE)
