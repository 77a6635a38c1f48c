-- period/bind: the analysis period of this connection, read by the temp view period_sessions
-- (sql/period/sessions.sql). $since (TIMESTAMPTZ, inclusive) and $until (TIMESTAMPTZ,
-- exclusive); NULL leaves that side open. Connection variables, bound as parameters, so they
-- work on read-only connections and never change the file.
SET VARIABLE session_audit_period = {
    'since': CAST($since AS TIMESTAMPTZ),
    'until': CAST($until AS TIMESTAMPTZ)
}
