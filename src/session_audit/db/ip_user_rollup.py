"""The per (org, ip, user) rollup of ``user_sessions`` that the findings rules read for "ever".

``ip_user_rollup`` (``sql/schema/ip_user_rollup.sql``) holds per organisation, canonical IP and
user the first session (by start, then id), the latest start and the number of sessions; the
rules ``shared_ip`` (which accounts ever used an address) and ``new_ip_burst`` (when a user
first used each address) read one row per address and user instead of every earlier session,
so an evaluation after an ingest costs the new sessions, not the history (10M sessions: each
read every earlier session of the addresses or users involved, about 1 s apiece).

Contract: :func:`refresh` is called by the findings evaluation (its own transaction) before the
rules run, and brings the org's rollup up to date with ``user_sessions``:

* the sessions stored by runs after the last refresh (``first_run_id`` above
  ``ip_user_rollup_state.through_run``; run ids grow, session ids need not: an ``--ids-file``
  import of old ids is new too) are added (one aggregate of them, an UPDATE of the known
  (ip, user) rows and an INSERT of the others: 60k new sessions onto 10M, about 70 ms);
* the rest is proved unchanged by a checksum, the sum of ``hash(id, ip, user_id, start_time)``
  over the org's sessions with an ip, and their count, both recorded at the last refresh: any
  other change (a re-fetched session whose address, user or start changed; a session written
  without a run id, as tests and the benchmark's generator do) makes them differ, and the
  rollup is rebuilt from ``user_sessions`` (10M sessions: about 1 s). An end time that changes
  changes nothing here. The one scan of four columns costs about 0.15 s over 10M sessions.
  (A DuckDB release whose ``hash`` differs makes the recorded checksum differ: one rebuild.)

Nothing else writes the rollup; the ingest does not maintain it (a MERGE into a table of one row
per address and user per checkpoint would cost the load path more than it saves the rules).
Check ``sql/checks/ip_user_rollup_inconsistent.sql`` compares it with a recomputation.
"""

from __future__ import annotations

from typing import Literal

import duckdb

from session_audit.db.sqlfiles import query_sql

Refresh = Literal["unchanged", "added", "rebuilt"]


def refresh(conn: duckdb.DuckDBPyConnection, org: str) -> Refresh:
    """Bring ``org``'s rollup up to date (see the module docstring); call inside a transaction.
    Returns what it did."""
    state = conn.execute(query_sql("ip_user_rollup", "state"), {"org": org}).fetchone()
    through = state[0] if state is not None else None
    totals = conn.execute(
        query_sql("ip_user_rollup", "totals"), {"org": org, "through": through}
    ).fetchone()
    assert totals is not None  # an aggregate answers one row
    sessions, checksum, new_sessions, new_checksum, newest_run = totals
    held = state is not None and (
        sessions == state[1] + new_sessions and checksum == state[2] + new_checksum
    )
    if held and not new_sessions:
        return "unchanged"
    if not held:
        conn.execute(query_sql("ip_user_rollup", "clear"), {"org": org})
    conn.execute(
        query_sql("ip_user_rollup", "new_rows"), {"org": org, "through": through, "all": not held}
    )
    try:
        if held:
            conn.execute(query_sql("ip_user_rollup", "update_known"))
        conn.execute(query_sql("ip_user_rollup", "insert_new"))
    finally:
        conn.execute(query_sql("ip_user_rollup", "drop_new"))
    done: Refresh = "added" if held else "rebuilt"
    conn.execute(
        query_sql("ip_user_rollup", "put_state"),
        {"org": org, "through": newest_run, "sessions": sessions, "checksum": checksum},
    )
    return done
