-- duplicate_session_ids: a session id stored more than once for one org (must never happen).
SELECT org, id, count(*) AS copies
FROM user_sessions
GROUP BY org, id
HAVING count(*) > 1;
