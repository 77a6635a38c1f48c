-- Rule concurrent_networks: a user whose sessions ran at the same time from different networks,
-- one finding per user and UTC day. A pair is two overlapping sessions of the user from
-- different canonical IPs, exactly the pairs of the view concurrent_sessions (same open-session
-- rule, macro session_assumed_end; tests/test_findings.py checks the two agree), whose addresses
-- are also in different /24 (v4) or /64 (v6) networks; the pair belongs to the day its overlap
-- starts (the later session's start, UTC). The finding of a user-day gathers every
-- such pair of that day and is graded by the farthest pair.
-- Why it matters: one trader at two desks on one network is normal (a phone and a desktop);
-- the same account live from two networks at once, far apart, is shared credentials. An
-- auditor reads one line per account and day ("7 overlapping pairs from 3 networks, up to
-- 5,570 km apart"), not one per pair: a shared account overlaps all day long.
-- Distance: great-circle km between the ip_geo locations when a City database placed both
-- (else unknown: the rule still runs without GeoIP files).
-- Thresholds: none as settings; grade of the farthest pair: >= 500 km high, >= 50 km medium,
-- closer or unknown low.
-- Pairs are found by an equi-join on (user, UTC day): each session is listed under every day
-- it runs on, and meets the sessions starting on those days (the view's ASOF plan took 0.25 s
-- per 120k sessions on 2,000 users; this join is linear in the sessions). Networks are
-- compared as text in the join (IS DISTINCT FROM: sessions without a network count as one
-- network); ip_geo places only the addresses of the pairs found. Integer keys of the window's
-- addresses cost two joins of every window session with them (a 60k ingest onto 60k: 90 ->
-- 30 ms for this rule without them). A day's lists (sessions, networks, countries) are built
-- from each of its pairs' sessions once (members), not from both ends of every pair (list
-- sorting and de-duplication of 2 x pairs values cost ~4 ms of CPU more for a 60k ingest).
-- Reads finding_recent_sessions, a temp view the evaluator (session_audit.analysis.findings)
-- creates: user_sessions restricted to the sessions running at or starting after the
-- evaluation window's start (00:00 UTC of the day of the earliest new session; every session
-- for a full evaluation), and the variable session_audit_findings_window (.newest: the org's
-- newest data, for the open-session rule). Every pair whose overlap starts in the window has
-- both sessions there, so the user-days of the window are exact.
-- Parameters: $org; $since_id: only user-days with a pair involving a session of id >= it
-- (such a user-day is recomputed from all of its pairs, so an incremental evaluation writes
-- the same rows as a full one).
-- Key: '<user id>:<YYYY-MM-DD>'.
-- session_ids: the first 20 sessions of the day's pairs (ascending); evidence.sessions counts
-- them all. Evidence: pairs, sessions, networks and countries (first 10), farthest pair,
-- longest overlap, still_open (a pair may still be going on).
-- Returns the finding columns: severity, finding_key, user_ids, session_ids, first_seen,
-- last_seen, summary, evidence (JSON text).
WITH sessions AS MATERIALIZED (
    -- the window's sessions with an address (no join: the network is compared as text in the
    -- pair join, where the address is placed by ip_geo only for the pairs found); computed once
    -- for both sides of the pair join (inlined twice, a 60k ingest onto 60k took 62 -> 50 ms
    -- for this rule)
    SELECT
        s.user_id, s.id, s.ip, s.ip_network, s.start_time, s.end_time,
        session_assumed_end(s.start_time, s.end_time,
            getvariable('session_audit_findings_window').newest) AS effective_end,
        CAST(floor(epoch_ms(s.start_time) / 86400000) AS BIGINT) AS start_day
    FROM finding_recent_sessions AS s
    WHERE s.org = $org AND s.ip IS NOT NULL
),
spans AS (
    -- each session under every UTC day it runs on (none when it ends before it starts)
    SELECT *, unnest(range(
        start_day, CAST(floor(epoch_ms(effective_end) / 86400000) AS BIGINT) + 1
    )) AS day
    FROM sessions
    WHERE effective_end > start_time
),
pairs AS (
    -- p started first (ties: lower id), o started before p ended, and both still ran then;
    -- different networks (a missing network counts as one network of its own, as before)
    SELECT
        p.user_id, p.id AS session_id, o.id AS other_session_id,
        p.ip, o.ip AS other_ip, p.ip_network, o.ip_network AS other_ip_network,
        o.start_time AS overlap_start,
        least(p.effective_end, o.effective_end) AS overlap_end,
        (epoch_ms(least(p.effective_end, o.effective_end)) - epoch_ms(o.start_time)) / 1000.0
            AS overlap_seconds,
        p.end_time IS NULL AND o.end_time IS NULL
            AND least(p.effective_end, o.effective_end)
                >= getvariable('session_audit_findings_window').newest AS still_open,
        o.start_day AS day
    FROM spans AS p
    JOIN sessions AS o ON o.user_id = p.user_id AND o.start_day = p.day
    WHERE (o.start_time > p.start_time OR (o.start_time = p.start_time AND o.id > p.id))
        AND o.start_time < p.effective_end
        AND o.effective_end > o.start_time
        AND p.ip_network IS DISTINCT FROM o.ip_network
),
measured AS MATERIALIZED (
    SELECT
        p.*,
        a.country, b.country AS other_country,
        great_circle_km(a.latitude, a.longitude, b.latitude, b.longitude) AS distance_km
    FROM pairs AS p
    LEFT JOIN ip_geo AS a ON a.ip = p.ip
    LEFT JOIN ip_geo AS b ON b.ip = p.other_ip
),
per_day AS (
    -- the pair figures of each user-day
    SELECT
        user_id, day,
        count(*) AS pairs,
        max(distance_km) AS max_distance_km,
        arg_max({'session_id': session_id, 'other_session_id': other_session_id, 'ip': ip,
                 'other_ip': other_ip, 'distance_km': round(distance_km, 1)},
                distance_km) AS farthest,
        max(overlap_seconds) AS max_overlap_seconds,
        bool_or(still_open) AS still_open,
        min(overlap_start) AS first_seen,
        max(overlap_end) AS last_seen
    FROM measured
    GROUP BY user_id, day
    -- only the user-days with a pair involving a new session (all of them when $since_id is 0)
    HAVING bool_or(session_id >= $since_id OR other_session_id >= $since_id)
),
members AS (
    -- each session of a user-day's pairs once, with its network and country (both follow
    -- from the session): the day's lists are built from these, not from every pair's two ends
    SELECT DISTINCT user_id, day, session_id, ip_network, country
    FROM (
        SELECT user_id, day, session_id, ip_network, country FROM measured
        UNION ALL
        SELECT user_id, day, other_session_id, other_ip_network, other_country FROM measured
    )
),
days AS (
    SELECT
        d.user_id, DATE '1970-01-01' + CAST(d.day AS INTEGER) AS day, d.pairs,
        l.sessions, l.networks, l.countries, d.max_distance_km, d.farthest,
        d.max_overlap_seconds, d.still_open, d.first_seen, d.last_seen
    FROM per_day AS d
    JOIN (
        SELECT user_id, day,
            list_sort(list(session_id)) AS sessions,
            list_sort(list_distinct(list(ip_network))) AS networks,
            list_sort(list_distinct(list(country))) AS countries
        FROM members
        GROUP BY user_id, day
    ) AS l ON l.user_id = d.user_id AND l.day = d.day
)
SELECT
    CASE WHEN d.max_distance_km >= 500 THEN 'high' WHEN d.max_distance_km >= 50 THEN 'medium'
        ELSE 'low' END AS severity,
    CAST(d.user_id AS VARCHAR) || ':' || strftime(d.day, '%Y-%m-%d') AS finding_key,
    [d.user_id] AS user_ids,
    d.sessions[1:20] AS session_ids,
    d.first_seen,
    d.last_seen,
    format('{} had {} pair(s) of sessions at once from {} different networks on {}{}; '
        || 'longest overlap {} minutes.',
        finding_user_label(u.name, d.user_id), d.pairs, len(d.networks),
        strftime(d.day, '%Y-%m-%d'),
        CASE WHEN d.max_distance_km IS NULL THEN ''
            ELSE ', up to ' || CAST(CAST(round(d.max_distance_km) AS BIGINT) AS VARCHAR)
                || ' km apart'
        END,
        CAST(round(d.max_overlap_seconds / 60) AS BIGINT)) AS summary,
    CAST(json_object(
        'day', strftime(d.day, '%Y-%m-%d'),
        'pairs', d.pairs, 'sessions', len(d.sessions),
        'networks', d.networks[1:10], 'network_count', len(d.networks),
        'countries', d.countries[1:10],
        'max_distance_km', round(d.max_distance_km, 1),
        'farthest_pair', CASE WHEN d.max_distance_km IS NOT NULL THEN d.farthest END,
        'max_overlap_seconds', d.max_overlap_seconds, 'still_open', d.still_open
    ) AS VARCHAR) AS evidence
FROM days AS d
LEFT JOIN users AS u ON u.org = $org AND u.id = d.user_id
