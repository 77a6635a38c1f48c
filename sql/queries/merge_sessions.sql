-- merge_sessions: upsert one checkpoint of sessions from the registered Arrow frame
-- `staged_sessions` (columns of session_audit.session_row.SESSION_ROW.frame_schema, ids unique,
-- the canonical ip/ip_family/ip_network computed from ip_address at ingest).
-- A TEMPLATE: session_audit.session_row.SessionRow.merge_sql() repeats every line holding
-- {column} once per stored column of the field table (the API fields but the key, and the
-- values derived at ingest), so no stored column is named here.
-- New ids are inserted with first/last run and loaded/updated time; an existing id is updated
-- only when a stored value differs (then last_run_id and updated_at move; first_run_id and
-- loaded_at never change). Returns one row per inserted or updated id (merge_action).
-- Parameters: $run_id; $lo, $hi = the lowest and highest staged id. current_timestamp is the
-- transaction's start time. The id range in the ON clause lets DuckDB skip every row group of
-- the target outside the checkpoint (zone maps; ids arrive roughly in order), so a merge costs
-- the checkpoint, not the table: 5k rows into 2M took 25-90 ms without it, 5-13 ms with it.
MERGE INTO user_sessions AS t
USING staged_sessions AS s
ON t.org = s.org AND t.id = s.id AND t.id BETWEEN $lo AND $hi
WHEN MATCHED AND (
    false
    OR t.{column} IS DISTINCT FROM s.{column}
) THEN UPDATE SET
    {column} = s.{column},
    last_run_id = $run_id,
    updated_at = current_timestamp
WHEN NOT MATCHED THEN INSERT (
    org,
    id,
    {column},
    first_run_id,
    last_run_id,
    loaded_at,
    updated_at
) VALUES (
    s.org,
    s.id,
    s.{column},
    $run_id,
    $run_id,
    current_timestamp,
    current_timestamp
)
RETURNING merge_action;
