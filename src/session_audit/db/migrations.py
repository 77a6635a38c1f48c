"""Versioned schema migrations, then the views recreated when they changed.

``migrate(conn)`` brings any database file written by an older session-audit to the current
schema in place, in ONE transaction: the missing steps of :data:`STEPS` run in order, each is
recorded in ``schema_migrations``, and finally every macro in ``session_audit.db.views.MACROS``
(``sql/macros/<name>.sql``) and every view in ``session_audit.db.views.VIEWS`` is recreated from
``sql/views/<name>.sql`` (macros and views hold no data, so they are rebuilt from the code that
is running) — unless nothing changed since they were last created: the :func:`objects_digest`
of the schema version and the macro and view SQL texts the running code ships equals the one
recorded in ``schema_objects`` (schema 7, written in the same transaction as the objects) and
every view exists (a view dropped by hand is recreated). A new session-audit whose views or
macros differ, or an older one of the same schema, recreates them. Not detected: a view or macro
replaced by hand under its own name (DuckDB's catalog renders a view's SQL differently once the
file is reopened, and reading its function catalog costs 15 ms); deleting the ``schema_objects``
row makes the next writer recreate everything. Only a writer calls ``migrate`` (the ingest under
its writer lock, the findings commands on their writing connection); read-only connections
never do. A file written by a newer version raises :class:`MigrationError`.

Adding a step: append ``Step(version=N + 1, ...)`` whose SQL files (one object per file) alter
or create what changed; a step may also name a ``backfill`` (Python, run after its SQL in the
same transaction) for values SQL cannot compute. Never edit a released step.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import duckdb

from session_audit.db.sqlfiles import load_sql, query_sql
from session_audit.errors import MigrationError


@dataclass(frozen=True)
class Step:
    """One schema version: the SQL files (names for :func:`load_sql`) that produce it, then an
    optional Python ``backfill`` of existing rows (same transaction)."""

    version: int
    description: str
    sql: tuple[str, ...]
    backfill: Callable[[duckdb.DuckDBPyConnection], None] | None = None


def backfill_canonical_ip(conn: duckdb.DuckDBPyConnection) -> None:
    """Schema 4: fill ip, ip_family, ip_network of stored sessions from ip_address, with the
    ingest's own :func:`~session_audit.ingest.normalize.canonical_ip`, once per distinct
    address (one UPDATE joined to a registered frame, no per-row work in Python). pyarrow is
    imported only when there is something to update (a new file: nothing, about 30 ms saved)."""
    from session_audit.ingest.normalize import canonical_ip

    found = conn.execute(query_sql("migrations", "distinct_ip_texts")).fetchall()
    texts = [row[0] for row in found]
    valid = [(text, value) for text in texts if (value := canonical_ip(text)) is not None]
    if not valid:
        return
    import pyarrow as pa

    frame = pa.table(
        {
            "ip_address": pa.array([t for t, _ in valid], pa.string()),
            "ip": pa.array([v[0] for _, v in valid], pa.string()),
            "ip_family": pa.array([v[1] for _, v in valid], pa.string()),
            "ip_network": pa.array([v[2] for _, v in valid], pa.string()),
        }
    )
    conn.register("ip_backfill", frame)
    try:
        conn.execute(query_sql("migrations", "backfill_canonical_ip"))
    finally:
        conn.unregister("ip_backfill")


def backfill_app_version_rollup(conn: duckdb.DuckDBPyConnection) -> None:
    """Schema 6: fill app_version_daily_rollup from the stored sessions (the same recomputation
    the ingest runs per changed day, :func:`session_audit.db.app_version_rollup.rebuild`)."""
    from session_audit.db.app_version_rollup import rebuild

    rebuild(conn)


STEPS: tuple[Step, ...] = (
    Step(
        1,
        "sessions, rejected sessions, users, user stats, run ledger, cursor",
        (
            "schema/user_sessions",
            "schema/rejected_sessions",
            "schema/users",
            "schema/user_session_stats",
            "schema/ingest_runs",
            "schema/ingest_state",
        ),
    ),
    Step(
        2, "index user_sessions by user for per-user history", ("schema/user_sessions_user_index",)
    ),
    Step(
        3,
        "ledger outcomes of the sparse id space (incomplete, rate_limited); api_state",
        ("schema/ingest_runs_v3", "schema/api_state"),
    ),
    Step(
        4,
        "canonical IP columns ip, ip_family, ip_network beside ip_address (backfilled)",
        ("schema/user_sessions_ip_v4",),
        backfill=backfill_canonical_ip,
    ),
    Step(
        5,
        "findings of the detection rules; ip_geo enrichment and the GeoIP files it came from",
        ("schema/findings", "schema/ip_geo", "schema/geoip_sources"),
    ),
    Step(
        6,
        "app_version_daily_rollup: per-day app version counts kept at ingest (backfilled)",
        ("schema/app_version_daily_rollup",),
        backfill=backfill_app_version_rollup,
    ),
    Step(
        7,
        "schema_objects: digests of the macros and views last created (recreated on change)",
        ("schema/schema_objects",),
    ),
    Step(
        8,
        "user_sessions without the (org, id) primary key: the ingest keeps one row per id",
        ("schema/user_sessions_keyless_v8",),
    ),
    Step(
        9,
        "ip_user_rollup: per (org, ip, user) first and last session for the findings rules "
        "(built by the next findings evaluation)",
        ("schema/ip_user_rollup", "schema/ip_user_rollup_state"),
    ),
)

CURRENT_VERSION = STEPS[-1].version
# The first version whose files hold schema_objects (before it, the views are always recreated).
OBJECTS_VERSION = 7
# The row of schema_objects that describes the macros and views.
_VIEWS_ROW = "views"


def view_names() -> tuple[str, ...]:
    """The views to (re)create, in order; none while ``session_audit.db.views`` is absent."""
    return _declared("VIEWS")


def macro_names() -> tuple[str, ...]:
    """The macros the views use (``sql/macros/<name>.sql``), created before the views."""
    return _declared("MACROS")


def _declared(name: str) -> tuple[str, ...]:
    """A tuple of names declared in ``session_audit.db.views`` (empty while it is absent)."""
    try:
        module = importlib.import_module("session_audit.db.views")
    except ModuleNotFoundError as exc:
        if exc.name == "session_audit.db.views":
            return ()
        raise
    return tuple(getattr(module, name, ()))


def schema_version(conn: duckdb.DuckDBPyConnection) -> int:
    """The highest applied version, 0 for an empty database."""
    exists = conn.execute(query_sql("migrations", "table_exists")).fetchone()
    if not exists or not exists[0]:
        return 0
    row = conn.execute(query_sql("migrations", "schema_version")).fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def migrate(
    conn: duckdb.DuckDBPyConnection,
    *,
    steps: Sequence[Step] = STEPS,
    views: Sequence[str] | None = None,
) -> int:
    """Apply the missing ``steps`` and recreate the views; return the schema version.

    ``steps``/``views`` default to this version's; tests pass others to build old files.
    """
    known = steps[-1].version if steps else 0
    view_list = view_names() if views is None else tuple(views)
    try:
        conn.execute("BEGIN TRANSACTION")
        conn.execute(load_sql("schema/schema_migrations"))
        current = schema_version(conn)
        if current > known:
            raise MigrationError(
                f"the database is at schema version {current}, newer than this session-audit "
                f"knows ({known}); upgrade session-audit"
            )
        for step in steps:
            if step.version <= current:
                continue
            for name in step.sql:
                conn.execute(load_sql(name))
            if step.backfill is not None:
                step.backfill(conn)
            conn.execute(query_sql("migrations", "record"), [step.version, step.description])
        if view_list:
            _create_objects(conn, macro_names(), view_list, max(current, known))
        conn.execute("COMMIT")
    except MigrationError:
        _rollback(conn)
        raise
    except duckdb.Error as exc:
        _rollback(conn)
        raise MigrationError(f"migrating the database failed: {exc}") from exc
    except BaseException:
        _rollback(conn)
        raise
    return max(current, known)


def objects_digest(version: int, macros: Sequence[str], views: Sequence[str]) -> str:
    """sha256 (hex) of the schema ``version`` and of each macro's and view's name and SQL file
    text, in creation order: what the running code would create."""
    digest = hashlib.sha256(f"schema {version}\n".encode())
    for kind, names in (("macros", macros), ("views", views)):
        for name in names:
            text = load_sql(f"{kind}/{name}")
            digest.update(f"{kind}/{name} {len(text)}\n{text}\n".encode())
    return digest.hexdigest()


def _create_objects(
    conn: duckdb.DuckDBPyConnection, macros: Sequence[str], views: Sequence[str], version: int
) -> bool:
    """(Re)create ``macros`` and ``views`` inside the caller's transaction unless the digest
    recorded at their last creation matches and every view exists; returns whether they were
    created. A file before :data:`OBJECTS_VERSION` (tests build old files) has nowhere to record
    the digest: always."""
    recorded = version >= OBJECTS_VERSION
    code = objects_digest(version, macros, views)
    if recorded:
        stored = conn.execute(query_sql("migrations", "objects_digest"), {"name": _VIEWS_ROW})
        if stored.fetchone() == (code,):
            present = conn.execute(query_sql("migrations", "views_present"), {"names": [*views]})
            if present.fetchone() == (len(set(views)),):
                return False
    for macro in macros:
        conn.execute(load_sql(f"macros/{macro}"))
    for view in views:
        conn.execute(load_sql(f"views/{view}"))
    if recorded:
        conn.execute(
            query_sql("migrations", "record_objects_digest"), {"name": _VIEWS_ROW, "digest": code}
        )
    return True


def _rollback(conn: duckdb.DuckDBPyConnection) -> None:
    with contextlib.suppress(duckdb.Error):  # no transaction open: nothing to undo
        conn.execute("ROLLBACK")
