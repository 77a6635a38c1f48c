-- sessions_in_id_range: how many stored sessions of $org have an id in [$lo, $hi] (the staged
-- checkpoint's id range). 0 means no staged id can match a stored one, so the checkpoint is a
-- plain insert (insert_new_sessions) and needs no MERGE. Zone maps on id make it a row-group
-- lookup. Parameters: $org, $lo, $hi.
SELECT count(*) FROM user_sessions WHERE org = $org AND id BETWEEN $lo AND $hi;
