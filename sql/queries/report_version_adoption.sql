-- report_version_adoption: per UTC day, the share of each of the $apps busiest apps' daily users
-- on each of its versions (one report chart per app), versions in version-aware order.
-- $org: one org or NULL for all. $since/$until: the report period (NULL = open side): the days
-- that overlap it. app_rank: 1 for the app with the most sessions in those days.
WITH days AS (
    SELECT *
    FROM app_version_daily
    WHERE ($org IS NULL OR org = $org)
        AND ($since IS NULL OR CAST(day AS TIMESTAMPTZ) + INTERVAL 1 DAY > $since)
        AND ($until IS NULL OR CAST(day AS TIMESTAMPTZ) < $until)
),
busiest AS (
    SELECT app_id, row_number() OVER (ORDER BY sum(sessions) DESC, app_id) AS app_rank
    FROM days
    GROUP BY app_id
    QUALIFY app_rank <= $apps
)
SELECT
    b.app_rank,
    d.day,
    d.app_id,
    d.app_version,
    max(d.version_key) AS version_key,
    sum(d.users) AS users,
    sum(d.app_users) AS app_users
FROM days AS d
JOIN busiest AS b ON d.app_id IS NOT DISTINCT FROM b.app_id
GROUP BY b.app_rank, d.day, d.app_id, d.app_version
ORDER BY b.app_rank, d.day, version_key NULLS LAST, d.app_version
