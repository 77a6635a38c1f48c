-- csv_safe(x): a TEMP macro rendering any value as CSV text, neutralising spreadsheet formula
-- injection: a VARCHAR value starting with = + - @ TAB or CR gets a leading single quote.
-- Values of other types (numbers, timestamps, lists, ...) are only cast to text, so a negative
-- number stays a number. Temp objects are allowed on read-only connections.
CREATE OR REPLACE TEMP MACRO csv_safe(x) AS
    CASE
        WHEN typeof(x) = 'VARCHAR' AND regexp_matches(CAST(x AS VARCHAR), '^[=+\-@\t\r]')
            THEN '''' || CAST(x AS VARCHAR)
        ELSE CAST(x AS VARCHAR)
    END
