-- api_state: what session-audit learned about one API root (base URL), kept across runs.
-- batch_size: the largest number of ids one userSession/items call was seen to accept (the API
-- does not document it); found once by growing the configured size, lowered when the API later
-- rejects it. Added in schema version 3.
CREATE TABLE api_state (
    base_url     VARCHAR PRIMARY KEY,
    batch_size   INTEGER NOT NULL CHECK (batch_size >= 1),
    rejected_at  INTEGER CHECK (rejected_at >= 1),
    updated_at   TIMESTAMPTZ NOT NULL DEFAULT current_timestamp
);
