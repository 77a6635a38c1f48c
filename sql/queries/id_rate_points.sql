-- id_rate_points: (id, start_time) of an org's lowest and highest stored session: the slope
-- between them is the platform's rate of session ids over time, which lets a scan cross quiet
-- stretches of foreign ids (see ingest/scan_plan.py). No row when nothing is stored.
-- Parameters: $org.
SELECT lo.id, lo.start_time, hi.id, hi.start_time
FROM (SELECT s.id, s.start_time FROM user_sessions AS s WHERE s.org = $org
      ORDER BY s.id LIMIT 1) AS lo,
     (SELECT s.id, s.start_time FROM user_sessions AS s WHERE s.org = $org
      ORDER BY s.id DESC LIMIT 1) AS hi;
