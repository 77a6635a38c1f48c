-- report_version_adoption: per UTC day, the share of the busiest app's daily users on each of
-- its versions (report chart), versions in version-aware order. $org: one org or NULL for all.
WITH busiest AS (
    SELECT app_id
    FROM app_version_usage
    WHERE $org IS NULL OR org = $org
    GROUP BY app_id
    ORDER BY sum(sessions) DESC, app_id
    LIMIT 1
)
SELECT
    d.day,
    d.app_id,
    d.app_version,
    max(d.version_key) AS version_key,
    sum(d.users) AS users,
    sum(d.app_users) AS app_users
FROM app_version_daily AS d
JOIN busiest AS b ON d.app_id IS NOT DISTINCT FROM b.app_id
WHERE $org IS NULL OR d.org = $org
GROUP BY d.day, d.app_id, d.app_version
ORDER BY d.day, version_key NULLS LAST, d.app_version
