-- anomaly_flags_inconsistent: a flag that disagrees with the stored values (end before start,
-- missing client app id, strings over 64 characters), either way round.
SELECT org, id, anomalies
FROM user_sessions
WHERE (coalesce(end_time < start_time, false)
          <> list_contains(anomalies, 'end_before_start'))
   OR ((client_app_id IS NULL) <> list_contains(anomalies, 'missing_client_app_id'))
   OR ((coalesce(length(ip_address) > 64, false)
        OR coalesce(length(app_id) > 64, false)
        OR coalesce(length(app_version) > 64, false))
          <> list_contains(anomalies, 'string_over_64'));
