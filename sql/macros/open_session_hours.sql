-- Macros open_session_hours(), session_assumed_end(start_time, end_time, newest): the one rule
-- for how long a session is assumed to run while the API still reports it open (no endTime).
--
-- Rule: an open session counts as running from its start for at most open_session_hours()
-- hours (setting open_session_hours, env SESSION_AUDIT_OPEN_SESSION_HOURS, default 24), and
-- never beyond the newest data: the latest start_time or end_time stored for its organisation
-- (view data_horizon). The local clock is never used, so the answer depends only on the data.
-- A token lives 80-90 minutes unless renewed, so a record left open for weeks is a session
-- never closed, not one in use.
--
-- open_session_hours() DOUBLE: the setting. The stored macro reads the connection variable
-- session_audit_open_session_hours (set by session_audit.db.views.use_open_session_hours,
-- which the report and export apply from Settings) and falls back to 24 when it is not set
-- (e.g. in the plain duckdb CLI).
-- session_assumed_end(start_time, end_time, newest) TIMESTAMPTZ: end_time when the session
-- closed; else the earlier of start_time + open_session_hours() and newest.
CREATE OR REPLACE MACRO open_session_hours() AS (
    coalesce(TRY_CAST(getvariable('session_audit_open_session_hours') AS DOUBLE), 24.0)
);
CREATE OR REPLACE MACRO session_assumed_end(start_time, end_time, newest) AS (
    coalesce(
        end_time,
        least(
            newest,
            start_time + to_microseconds(CAST(open_session_hours() * 3600000000 AS BIGINT))
        )
    )
);
