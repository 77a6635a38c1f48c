-- insert_rejected: record the rejected objects of one checkpoint from the registered Arrow
-- frame `staged_rejected` (org, session_id, raw_json, reason). Parameters: $run_id.
-- One row per (org, session_id, raw_json), however often the object is re-fetched: a pair
-- already stored (or repeated within the frame) is not inserted again; the first run that saw
-- it keeps the row. session_id may be NULL (no usable id), compared NULL-safely.
INSERT INTO rejected_sessions (org, run_id, session_id, raw_json, reason, rejected_at)
SELECT s.org, $run_id, s.session_id, s.raw_json, min(s.reason), current_timestamp
FROM staged_rejected AS s
WHERE NOT EXISTS (
    SELECT 1
    FROM rejected_sessions AS r
    WHERE r.org = s.org
        AND r.session_id IS NOT DISTINCT FROM s.session_id
        AND r.raw_json = s.raw_json
)
GROUP BY s.org, s.session_id, s.raw_json;
