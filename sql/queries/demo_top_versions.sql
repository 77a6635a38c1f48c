-- demo_top_versions: the most used app versions, for `session-audit demo`. $limit: rows wanted.
-- Columns: app_id, app_version, sessions, users, is_outdated.
SELECT app_id, app_version, sessions, users, is_outdated
FROM app_version_usage
ORDER BY sessions DESC, app_id, version_key DESC
LIMIT $limit
