-- findings_match_id: ids of findings equal to $id or starting with it (a unique prefix).
SELECT id FROM findings WHERE starts_with(id, $id) ORDER BY id LIMIT 2
