-- users: the Tradovate users (GET /user/list) as last seen. Key (org, id).
-- created_at is the API field `timestamp`; first_run_id: the run that first stored it; last_run_id:
-- the run that inserted or last changed it (an unchanged user is not rewritten).
CREATE TABLE users (
    org                           VARCHAR NOT NULL DEFAULT 'default',
    id                            BIGINT NOT NULL,
    name                          VARCHAR,
    email                         VARCHAR,
    status                        VARCHAR,
    professional                  BOOLEAN,
    organization_id               BIGINT,
    linked_user_id                BIGINT,
    foreign_introducing_broker_id BIGINT,
    created_at                    TIMESTAMPTZ,
    first_run_id                  BIGINT,
    last_run_id                   BIGINT,
    PRIMARY KEY (org, id)
);
