-- cursor_behind_scanned_ids: sessions first stored by a range scan at or beyond the org's scan
-- cursor: the cursor must be past every id a scan stored (ids-file runs may store ids beyond it).
SELECT s.org, s.id, st.next_id
FROM user_sessions AS s
JOIN ingest_runs AS r ON r.run_id = s.first_run_id
JOIN ingest_state AS st ON st.org = s.org
WHERE r.source = 'scan' AND s.id >= st.next_id;
