-- Rule hosting_asn: sessions of a user from a datacenter, hosting or VPN network: an ASN on
-- the hosting list (finding_hosting_asns: session_audit/data/hosting_asns.csv shipped with the
-- package, plus the rows of the CSV named by the setting hosting_asns,
-- SESSION_AUDIT_HOSTING_ASNS; columns asn, name, kind).
-- Why it matters: people log in from homes and phones; a login from a cloud server is a bot,
-- a remote desktop someone else controls, or an anonymising VPN, which prop firms often forbid
-- on funded accounts.
-- One finding per user and ASN, listing every session from it.
-- Thresholds: none (the list is the threshold).
-- Needs: ip_geo from an ASN database (skipped without one).
-- Severity: high for kind 'hosting', medium otherwise (e.g. 'vpn').
-- Parameters: $org; $since_id: only users and ASNs with a session of id >= $since_id.
-- Key: '<user id>:AS<asn>'.
-- Returns the finding columns: severity, finding_key, user_ids, session_ids, first_seen,
-- last_seen, summary, evidence (JSON text).
WITH hits AS (
    SELECT s.user_id, s.id, s.start_time, s.ip, g.asn, g.as_org, g.country, h.name, h.kind
    FROM user_sessions AS s
    JOIN ip_geo AS g ON g.ip = s.ip
    JOIN finding_hosting_asns AS h ON h.asn = g.asn
    WHERE s.org = $org
),
grouped AS (
    SELECT
        user_id, asn,
        any_value(as_org) AS as_org, any_value(name) AS list_name, any_value(kind) AS kind,
        list_sort(list(id)) AS session_ids, list_sort(list(DISTINCT ip)) AS ips,
        min(start_time) AS first_seen, max(start_time) AS last_seen, max(id) AS newest_id,
        count(*) AS sessions
    FROM hits
    GROUP BY user_id, asn
)
SELECT
    CASE WHEN g.kind = 'hosting' THEN 'high' ELSE 'medium' END AS severity,
    CAST(g.user_id AS VARCHAR) || ':AS' || CAST(g.asn AS VARCHAR) AS finding_key,
    [g.user_id] AS user_ids,
    g.session_ids,
    g.first_seen,
    g.last_seen,
    format('{} logged in {} time(s) from {} network AS{} ({}).',
        finding_user_label(u.name, g.user_id), g.sessions, g.kind, g.asn,
        coalesce(g.as_org, g.list_name)) AS summary,
    CAST(json_object(
        'asn', g.asn, 'as_org', g.as_org, 'listed_as', g.list_name, 'kind', g.kind,
        'ips', g.ips, 'sessions', g.sessions
    ) AS VARCHAR) AS evidence
FROM grouped AS g
LEFT JOIN users AS u ON u.org = $org AND u.id = g.user_id
WHERE g.newest_id >= $since_id
