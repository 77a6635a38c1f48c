-- export: the queries of session_audit.analysis.export (the `export` command and the
-- export_compliance flow).
--
-- The rows of an export are those of the table macro export_rows (rows_macro, created first on
-- the connection): $dataset is a name from the catalog (the whitelist); $time_column,
-- $user_column and $org_column are anchored regexes naming one column each
-- (analysis.catalog.column_pattern); the filters are bound values, NULL meaning "no filter":
-- $since (TIMESTAMPTZ, inclusive), $until (exclusive), $user_id, $org. A filter that is off
-- still binds its column pattern (to the dataset's first column when it has no such column);
-- its `value IS NULL` makes it TRUE, and DuckDB folds it away before the scan.
-- Rows come in a deterministic order: the whole typed row (every column, left to right, NULLs
-- last), so equal data always gives the same file.

-- name: rows_macro
-- export_rows(...): the rows of one dataset that pass the filters (a TEMP table macro; temp
-- objects are allowed on read-only connections).
CREATE OR REPLACE TEMP MACRO export_rows(
    dataset, time_column, since, until, user_column, user_id, org_column, org
) AS TABLE
SELECT *
FROM query_table(dataset) AS src
WHERE (since IS NULL OR COLUMNS(time_column) >= since)
    AND (until IS NULL OR COLUMNS(time_column) < until)
    AND (user_id IS NULL OR COLUMNS(user_column) = user_id)
    AND (org IS NULL OR COLUMNS(org_column) = org)

-- name: count
-- how many rows of the export there are.
SELECT count(*) AS row_count
FROM export_rows(
    $dataset, $time_column, $since, $until, $user_column, $user_id, $org_column, $org
) AS src

-- name: select
-- the typed rows of the export, in export order.
SELECT *
FROM export_rows(
    $dataset, $time_column, $since, $until, $user_column, $user_id, $org_column, $org
) AS src
ORDER BY src

-- name: select_csv
-- the same rows rendered as CSV text by csv_safe (run csv_safe_macro first on the connection);
-- ordering uses the typed row (src), not the text.
SELECT csv_safe(COLUMNS(*))
FROM export_rows(
    $dataset, $time_column, $since, $until, $user_column, $user_id, $org_column, $org
) AS src
ORDER BY src

-- name: months
-- the UTC months ('YYYY-MM', NULL for rows without a timestamp) of the export's rows, with row
-- counts, NULL last: one partition file each.
SELECT
    strftime(timezone('UTC', CAST(COLUMNS($time_column) AS TIMESTAMPTZ)), '%Y-%m') AS month,
    count(*) AS row_count
FROM export_rows(
    $dataset, $time_column, $since, $until, $user_column, $user_id, $org_column, $org
) AS src
GROUP BY month
ORDER BY month NULLS LAST

-- name: select_month
-- one partition file of a large export: the rows of `select` whose time column falls in the
-- UTC month $month ('YYYY-MM'), or, with $undated, whose time column is NULL.
SELECT *
FROM export_rows(
    $dataset, $time_column, $since, $until, $user_column, $user_id, $org_column, $org
) AS src
WHERE CASE
    WHEN $undated THEN COLUMNS($time_column) IS NULL
    ELSE strftime(timezone('UTC', CAST(COLUMNS($time_column) AS TIMESTAMPTZ)), '%Y-%m') = $month
END
ORDER BY src

-- name: select_month_csv
-- the partition of select_month rendered as CSV text (as select_csv).
SELECT csv_safe(COLUMNS(*))
FROM export_rows(
    $dataset, $time_column, $since, $until, $user_column, $user_id, $org_column, $org
) AS src
WHERE CASE
    WHEN $undated THEN COLUMNS($time_column) IS NULL
    ELSE strftime(timezone('UTC', CAST(COLUMNS($time_column) AS TIMESTAMPTZ)), '%Y-%m') = $month
END
ORDER BY src

-- name: csv_safe_macro
-- csv_safe(x): a TEMP macro rendering any value as CSV text, neutralising spreadsheet formula
-- injection: a VARCHAR value gets a leading single quote when it starts with TAB or CR, or
-- when its first character after any run of whitespace (Python's str.isspace set: \s, \v,
-- U+001C-U+001F, U+0085, \p{Z}) and invisible format characters (\p{Cf}: bidi controls
-- U+200E/F, U+202A-U+202E, U+2066-U+2069, zero-width characters, BOM) is a formula character,
-- ASCII or full-width: = + - @ ＝ ＋ － ＠. The Python twin is
-- session_audit.analysis.query.csv_safe_text (same rule, tested against each other).
-- Values of other types (numbers, timestamps, lists, ...) are only cast to text, so a negative
-- number stays a number. Temp objects are allowed on read-only connections.
CREATE OR REPLACE TEMP MACRO csv_safe(x) AS
    CASE
        WHEN typeof(x) = 'VARCHAR' AND regexp_matches(
            CAST(x AS VARCHAR),
            '^([\t\r]|[\t\n\x{0B}\f\r \x{1C}-\x{1F}\x{85}\p{Z}\p{Cf}]*[=+\-@\x{FF1D}\x{FF0B}\x{FF0D}\x{FF20}])'
        )
            THEN '''' || CAST(x AS VARCHAR)
        ELSE CAST(x AS VARCHAR)
    END

-- name: database_paths
-- the file of every database attached to the connection (NULL for in-memory
-- ones), so export can refuse an --out folder that holds the database it reads.
SELECT d.path
FROM duckdb_databases() AS d
WHERE NOT d.internal
