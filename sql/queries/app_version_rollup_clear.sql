-- app_version_rollup_clear: delete the app_version_daily_rollup rows of org $org for the UTC
-- days of the registered frame `rollup_days` (day DATE), all within [$lo_day, $hi_day), before
-- app_version_rollup_fill recomputes them in the same transaction.
-- Parameters: $org VARCHAR, $lo_day DATE, $hi_day DATE.
DELETE FROM app_version_daily_rollup
WHERE org = $org
    AND day >= $lo_day
    AND day < $hi_day
    AND day IN (SELECT day FROM rollup_days)
