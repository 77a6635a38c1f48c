-- merge_users: upsert the users of one /user/list answer from the registered Arrow frame
-- `staged_users` (org, id, name, email, status, professional, organization_id, linked_user_id,
-- foreign_introducing_broker_id, created_at; ids unique). first_run_id is kept,
-- last_run_id = the run that last saw the user. Parameters: $run_id.
MERGE INTO users AS t
USING staged_users AS s
ON t.org = s.org AND t.id = s.id
WHEN MATCHED THEN UPDATE SET
    name = s.name,
    email = s.email,
    status = s.status,
    professional = s.professional,
    organization_id = s.organization_id,
    linked_user_id = s.linked_user_id,
    foreign_introducing_broker_id = s.foreign_introducing_broker_id,
    created_at = s.created_at,
    last_run_id = $run_id
WHEN NOT MATCHED THEN INSERT (
    org, id, name, email, status, professional, organization_id, linked_user_id,
    foreign_introducing_broker_id, created_at, first_run_id, last_run_id
) VALUES (
    s.org, s.id, s.name, s.email, s.status, s.professional, s.organization_id, s.linked_user_id,
    s.foreign_introducing_broker_id, s.created_at, $run_id, $run_id
);
