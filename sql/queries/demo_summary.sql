-- demo_summary: the headline figures `session-audit demo` prints (one row).
-- Columns: sessions, users, session_users, open_sessions, rejected, shared_ips, shared_networks,
-- concurrent_incidents, concurrent_users.
SELECT
    (SELECT count(*) FROM user_sessions) AS sessions,
    (SELECT count(*) FROM users) AS users,
    (SELECT count(DISTINCT user_id) FROM user_sessions) AS session_users,
    (SELECT count(*) FROM user_sessions WHERE end_time IS NULL) AS open_sessions,
    (SELECT count(*) FROM rejected_sessions) AS rejected,
    (SELECT count(*) FROM shared_ips WHERE kind = 'ip') AS shared_ips,
    (SELECT count(*) FROM shared_ips WHERE kind = 'network') AS shared_networks,
    (SELECT count(*) FROM concurrent_sessions) AS concurrent_incidents,
    (SELECT count(DISTINCT user_id) FROM concurrent_sessions) AS concurrent_users
