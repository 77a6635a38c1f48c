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
