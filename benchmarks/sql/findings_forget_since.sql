-- findings_forget_since: forget the findings that name a session of id >= $since_id, so that an
-- incremental evaluation from $since_id over the full evaluation's database finds them again as
-- it would right after an ingest of those sessions (a finding whose session_ids, capped at 20,
-- do not reach them stays and is re-evaluated as an update, as after a real ingest).
DELETE FROM findings WHERE list_max(session_ids) >= $since_id;
