-- findings (schema version 5): one row per finding of a detection rule (sql/rules/<rule>.sql),
-- written by session_audit.analysis.findings. The id is deterministic: the first 24 hex digits
-- of sha256(rule | org | finding_key), where finding_key is what defines the finding for its
-- rule (a pair of session ids, a user and a country, an IP, ...), so re-evaluating never
-- duplicates a finding:
-- it updates severity, sessions, last_seen, summary and evidence in place and keeps
-- detected_at and the acknowledgement.
--   id                VARCHAR      deterministic id (see above)
--   org               VARCHAR      organisation label
--   rule              VARCHAR      the rule's file name in sql/rules/ (e.g. 'impossible_travel')
--   severity          VARCHAR      'info', 'low', 'medium' or 'high'
--   finding_key       VARCHAR      what defines the finding within its rule
--   user_ids          BIGINT[]     the users concerned, ascending
--   session_ids       BIGINT[]     the sessions that fired the rule, ascending (may be empty:
--                                  failed_password_jump is about stats observations)
--   first_seen        TIMESTAMPTZ  data time of the earliest event of the finding
--   last_seen         TIMESTAMPTZ  data time of the latest event
--   summary           VARCHAR      one short human sentence
--   evidence          VARCHAR      JSON object: the numbers that fired the rule
--   detected_at       TIMESTAMPTZ  when an evaluation first wrote the finding (local clock;
--                                  never compared with API times)
--   acknowledged_at   TIMESTAMPTZ  set by `session-audit findings ack ID` (NULL: open)
--   acknowledged_by   VARCHAR      who acknowledged it
--   acknowledged_note VARCHAR      why
CREATE TABLE findings (
    id                VARCHAR PRIMARY KEY,
    org               VARCHAR NOT NULL DEFAULT 'default',
    rule              VARCHAR NOT NULL,
    severity          VARCHAR NOT NULL,
    finding_key       VARCHAR NOT NULL,
    user_ids          BIGINT[] NOT NULL,
    session_ids       BIGINT[] NOT NULL,
    first_seen        TIMESTAMPTZ,
    last_seen         TIMESTAMPTZ,
    summary           VARCHAR NOT NULL,
    evidence          VARCHAR NOT NULL,
    detected_at       TIMESTAMPTZ NOT NULL DEFAULT current_timestamp,
    acknowledged_at   TIMESTAMPTZ,
    acknowledged_by   VARCHAR,
    acknowledged_note VARCHAR,
    CHECK (severity IN ('info', 'low', 'medium', 'high'))
);
