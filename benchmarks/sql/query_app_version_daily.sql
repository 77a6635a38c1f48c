-- query_app_version_daily: app version adoption per day, whole history.
SELECT * FROM app_version_daily
