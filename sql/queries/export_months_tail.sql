-- export_months_tail: closes export_months.sql (group and order by month, NULL last).
GROUP BY month
ORDER BY month NULLS LAST
