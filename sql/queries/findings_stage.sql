-- findings_stage: the rows of one or more rules with their deterministic id (first 24 hex
-- digits of sha256(rule, org, finding_key) joined by U+001F), org and rule, into the temp table
-- finding_staged. finding_candidates stands for the rules' SELECTs (sql/rules/<rule>.sql), each
-- tagged with its rule name in a first column `rule` and joined by UNION ALL: the evaluator
-- puts them in its place as a subquery (session_audit.analysis.findings), so the rows are
-- materialised once, in DuckDB, never in Python.
CREATE OR REPLACE TEMP TABLE finding_staged AS
SELECT
    substr(sha256(rule || chr(31) || $org || chr(31) || finding_key), 1, 24) AS id,
    $org AS org,
    rule,
    severity,
    finding_key,
    list_sort(CAST(user_ids AS BIGINT[])) AS user_ids,
    list_sort(CAST(session_ids AS BIGINT[])) AS session_ids,
    CAST(first_seen AS TIMESTAMPTZ) AS first_seen,
    CAST(last_seen AS TIMESTAMPTZ) AS last_seen,
    summary,
    evidence
FROM finding_candidates
