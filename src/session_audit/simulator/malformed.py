"""A few malformed rows, as real exports contain them: each kind at least once.

Each kind is an override applied when the row is served; the row keeps its id so a scan still
meets it in order.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from session_audit.simulator.table import DROP, OPEN, SessionTable
from session_audit.simulator.timefmt import iso_ms

LONG_IP = "2001:db8:85a3::8a2e:370:7334, 203.0.113.7, 198.51.100.23 (x-forwarded-for chain)"
LONG_APP_ID = "tradovate_trader/" + "plugin-" * 9 + "end"
FORMULA = '=HYPERLINK("http://x","y")'
TRICKY_VERSION = '2.0 "beta", build 7\nhotfix, "quoted"'


def _end_before_start(table: SessionTable, row: int) -> dict[str, Any]:
    return {"endTime": iso_ms(table.starts[row] - 3_600_000)}


KINDS: tuple[tuple[str, Callable[[SessionTable, int], dict[str, Any]]], ...] = (
    ("missing_user_id", lambda t, r: {"userId": DROP}),
    ("unparseable_start_time", lambda t, r: {"startTime": "2026-02-30T25:61:00.000Z"}),
    ("ip_over_64_chars", lambda t, r: {"ipAddress": LONG_IP}),
    ("formula_app_id", lambda t, r: {"appId": FORMULA}),
    ("quotes_commas_newlines", lambda t, r: {"appVersion": TRICKY_VERSION}),
    ("end_before_start", _end_before_start),
    ("missing_client_app_id", lambda t, r: {"clientAppId": DROP}),
    ("ip_not_parseable", lambda t, r: {"ipAddress": "unknown"}),
    ("app_id_over_64_chars", lambda t, r: {"appId": LONG_APP_ID}),
    ("start_time_not_a_date", lambda t, r: {"startTime": "yesterday"}),
)


def add_malformed(rng: random.Random, table: SessionTable) -> dict[str, list[int]]:
    """Mark about one row in 5,000 (at least one per kind) as malformed; return ids by kind."""
    count = min(len(table), max(len(KINDS), len(table) // 5000))
    rows = sorted(rng.sample(range(len(table)), count))
    kinds: dict[str, list[int]] = {}
    for n, row in enumerate(rows):
        name, make = KINDS[n % len(KINDS)]
        override = make(table, row)
        if name == "end_before_start" and table.ends[row] == OPEN:
            table.close(row, table.starts[row] + 1)  # a closed row, then its end is garbled
        table.overrides[row] = override
        kinds.setdefault(name, []).append(table.ids[row])
    return kinds
