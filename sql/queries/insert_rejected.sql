-- insert_rejected: record the rejected objects of one checkpoint from the registered Arrow
-- frame `staged_rejected` (org, session_id, raw_json, reason). Parameters: $run_id.
INSERT INTO rejected_sessions (org, run_id, session_id, raw_json, reason, rejected_at)
SELECT org, $run_id, session_id, raw_json, reason, current_timestamp
FROM staged_rejected;
