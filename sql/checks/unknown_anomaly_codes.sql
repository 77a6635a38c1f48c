-- unknown_anomaly_codes: anomaly codes outside the documented set.
SELECT org, id, code
FROM (SELECT org, id, unnest(anomalies) AS code FROM user_sessions)
WHERE code NOT IN ('end_before_start', 'string_over_64', 'ip_not_parseable',
                   'missing_client_app_id');
