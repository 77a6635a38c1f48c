-- generate_users: $users synthetic users (ids 1..$users) for the query benchmark.
-- Parameters: $users.
INSERT INTO users (org, id, name, email, status, professional, created_at, first_run_id,
                   last_run_id)
SELECT
    'default',
    range + 1,
    'user' || CAST(range + 1 AS VARCHAR),
    'user' || CAST(range + 1 AS VARCHAR) || '@example.com',
    'Active',
    FALSE,
    TIMESTAMPTZ '2024-01-01 00:00:00+00',
    1,
    1
FROM range($users)
