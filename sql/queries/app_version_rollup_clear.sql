-- app_version_rollup_clear: delete the app_version_daily_rollup rows of org $org for the UTC
-- days $lo_day (inclusive) to $hi_day (exclusive), before app_version_rollup_fill recomputes
-- them in the same transaction. Parameters: $org VARCHAR, $lo_day DATE, $hi_day DATE.
DELETE FROM app_version_daily_rollup
WHERE org = $org AND day >= $lo_day AND day < $hi_day
