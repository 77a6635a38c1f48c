-- report_user_names: every stored user's name, so the report can print "name (#id)" next to
-- every user id. $org: one organisation or NULL for all.
SELECT org, id, name
FROM users
WHERE ($org IS NULL OR org = $org) AND name IS NOT NULL
