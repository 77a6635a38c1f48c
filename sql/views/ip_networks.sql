-- View ip_networks: every distinct IP text seen in user_sessions, with its family and network.
-- Computed with string functions only (no `inet` extension), once per distinct IP, so the views
-- that join it stay cheap on millions of sessions.
--
-- Columns:
--   org         VARCHAR  organisation label
--   ip_address  VARCHAR  the IP text exactly as the API sent it (never NULL here)
--   ip_family   VARCHAR  'v4' (dotted quad, octets 0-255 without leading zeros, as Python's
--                        ipaddress accepts) or 'v6' (valid colon-hex text, '::' compression,
--                        optional dotted IPv4 tail, optional %zone); NULL when the text is not
--                        an IP address
--   ip_network  VARCHAR  v4: 'a.b.c.0/24'; v6: the first four
--                        groups of the expanded address, lower case without leading zeros, as
--                        'g1:g2:g3:g4::/64'; NULL when ip_family is NULL
CREATE OR REPLACE VIEW ip_networks AS
WITH distinct_ips AS MATERIALIZED (
    SELECT DISTINCT org, ip_address
    FROM user_sessions
    WHERE ip_address IS NOT NULL
),
v4_or_not_ip AS (
    -- Texts without ':' are IPv4 or not an IP; one anchored regex decides (fast path).
    SELECT
        org,
        ip_address,
        regexp_full_match(
            ip_address,
            '(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.'
            || '(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.'
            || '(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.'
            || '(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])'
        ) AS is_v4
    FROM distinct_ips
    WHERE NOT contains(ip_address, ':')
),
v6_text AS (
    SELECT org, ip_address, lower(split_part(ip_address, '%', 1)) AS addr
    FROM distinct_ips
    WHERE contains(ip_address, ':')
),
v6_parts AS (
    SELECT
        org,
        ip_address,
        regexp_full_match(addr, '[0-9a-f:]*(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})?')
            AND strpos(addr, ':::') = 0
            AND length(addr) - length(replace(addr, '::', '')) <= 2 AS text_ok,
        contains(addr, '::') AS compressed,
        list_filter(string_split(split_part(addr, '::', 1), ':'), lambda g: g <> '') AS head,
        CASE WHEN contains(addr, '::')
            THEN list_filter(string_split(split_part(addr, '::', 2), ':'), lambda g: g <> '')
            ELSE []::VARCHAR[]
        END AS tail
    FROM v6_text
),
v6_weighed AS (
    -- A dotted IPv4 tail stands for two groups; every other group is 1-4 hex digits.
    SELECT
        *,
        len(head) + len(tail)
            + len(list_filter(list_concat(head, tail), lambda g: contains(g, '.'))) AS weight,
        list_bool_and(list_transform(list_concat(head, tail),
            lambda g: contains(g, '.') OR regexp_full_match(g, '[0-9a-f]{1,4}'))) AS groups_ok
    FROM v6_parts
),
v6_checked AS (
    SELECT
        org,
        ip_address,
        text_ok AND coalesce(groups_ok, TRUE)
            AND ((compressed AND weight <= 7) OR (NOT compressed AND weight = 8)) AS is_v6,
        list_slice(
            list_concat(head, list_transform(range(greatest(8 - weight, 0)), lambda i: '0'), tail),
            1, 4) AS first_groups
    FROM v6_weighed
)
SELECT
    org,
    ip_address,
    CASE WHEN is_v4 THEN 'v4' END AS ip_family,
    CASE WHEN is_v4 THEN
        left(ip_address, length(ip_address) - length(split_part(ip_address, '.', 4))) || '0/24'
    END AS ip_network
FROM v4_or_not_ip
UNION ALL
SELECT
    org,
    ip_address,
    CASE WHEN is_v6 THEN 'v6' END AS ip_family,
    CASE WHEN is_v6 THEN
        array_to_string(
            list_transform(first_groups,
                lambda g: CASE WHEN ltrim(g, '0') = '' THEN '0' ELSE ltrim(g, '0') END),
            ':') || '::/64'
    END AS ip_network
FROM v6_checked
