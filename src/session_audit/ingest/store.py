"""SessionStore: the run ledger and the exactly-once checkpoint write.

Every write is ONE DuckDB transaction. :meth:`SessionStore.write_checkpoint` stages the batch's
polars frames through Arrow (no per-row inserts), merges the sessions by (org, id) — counting
inserted / updated / unchanged rows —, records the rejected objects, adds the checkpoint's
:class:`~session_audit.ingest.counts.LedgerCounts` to the run's ledger row (the only total of a
run) and moves the scan cursor forward (never back), then commits. Any failure rolls
the whole checkpoint back, so a crash (even kill -9) leaves the database at the previous
checkpoint and a rerun starts from the last committed cursor: nothing lost, nothing duplicated.
One row per (org, id) is the store's to keep (user_sessions has no key since schema 8): a
checkpoint none of whose ids is stored is a plain insert, any other is MERGEd by (org, id), and a
frame that repeats an id is refused before anything is written.

Runs still 'running' when a new run of the same org starts are marked 'interrupted': the
DuckDB file lock guarantees their process is gone.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import duckdb
import polars as pl

from session_audit.db import app_version_rollup
from session_audit.db.connection import arrow_view
from session_audit.db.sqlfiles import query_sql
from session_audit.errors import StorageError
from session_audit.ingest.counts import LedgerCounts
from session_audit.ingest.normalize import (
    NormalizedBatch,
    normalize_user_stats,
    normalize_users,
)
from session_audit.session_row import SESSION_ROW

T = TypeVar("T")

RUN_STATUSES = ("running", "completed", "incomplete", "rate_limited", "failed", "interrupted")


@dataclass(frozen=True)
class Checkpoint:
    """What one checkpoint added to its run's ledger row, and the row's totals after it."""

    added: LedgerCounts
    totals: LedgerCounts


Opener = Callable[[], AbstractContextManager[duckdb.DuckDBPyConnection]]


class _Rows:
    """A query's rows, fetched before its connection closed."""

    def __init__(self, rows: list[tuple[Any, ...]]) -> None:
        self._rows = rows

    def fetchone(self) -> tuple[Any, ...] | None:
        return self._rows[0] if self._rows else None

    def fetchall(self) -> list[tuple[Any, ...]]:
        return self._rows


class SessionStore:
    """All writes of an ingest run for one org.

    ``SessionStore(conn, org)`` works on an open connection; ``SessionStore(lock.connection,
    org)`` (a ``WriterLock``) opens the database for each transaction or query and closes it
    right after, so that readers in other processes wait at most one commit.
    """

    def __init__(self, conn: duckdb.DuckDBPyConnection | Opener, org: str) -> None:
        if isinstance(conn, duckdb.DuckDBPyConnection):
            self._held: duckdb.DuckDBPyConnection | None = conn
            self._opener: Opener | None = None
        else:
            self._held, self._opener = None, conn
        self._open: duckdb.DuckDBPyConnection | None = None
        self._busy = threading.RLock()
        self.org = org

    @property
    def conn(self) -> duckdb.DuckDBPyConnection:
        """The connection of the unit of work under way (or the held one)."""
        conn = self._held or self._open
        if conn is None:
            raise StorageError("the store is used outside a transaction")
        return conn

    @contextmanager
    def _connected(self) -> Iterator[duckdb.DuckDBPyConnection]:
        # One unit of work at a time, whatever thread asks (a checkpoint still being written
        # in a worker thread when the run is cancelled finishes before the ledger is closed).
        with self._busy:
            if self._held is not None or self._open is not None:
                yield self.conn
                return
            assert self._opener is not None
            with self._opener() as conn:
                self._open = conn
                try:
                    yield conn
                finally:
                    self._open = None

    # -- ledger ----------------------------------------------------------------------------------

    def start_run(
        self, source: str, *, flow_run_id: str | None = None, first_id: int | None = None
    ) -> int:
        """Open a 'running' ledger row (committed) and return its run id. Earlier runs of this
        org still 'running' are marked 'interrupted'."""

        def work() -> int:
            self._run("mark_interrupted", org=self.org)
            row = self.conn.execute(query_sql("store", "next_run_id")).fetchone()
            run_id = int(row[0]) if row else 1
            self._run(
                "insert_run",
                run_id=run_id,
                org=self.org,
                flow_run_id=flow_run_id,
                source=source,
                first_id=first_id,
            )
            return run_id

        return self._transaction("start the run", work)

    def finish_run(
        self,
        run_id: int,
        status: str,
        error: str | None = None,
        *,
        added: LedgerCounts | None = None,
        scanned_to: int | None = None,
        end_session_id: int | None = None,
        resume_at: datetime | None = None,
        api_user_id: int | None = None,
        login_at: datetime | None = None,
    ) -> LedgerCounts:
        """Close a run: status, finish time, error, how its scan ended, what its login
        answered; ``added`` (what the run did after its last checkpoint) is added to the
        counters in the same transaction. Returns the run's totals, as stored."""
        if status not in RUN_STATUSES:
            raise StorageError(f"unknown run status {status!r} (one of {', '.join(RUN_STATUSES)})")

        def work() -> LedgerCounts:
            totals = self._add_counts(run_id, added or LedgerCounts(), None, None)
            self._run(
                "finish_run",
                run_id=run_id,
                status=status,
                error=error,
                scanned_to=scanned_to,
                end_session_id=end_session_id,
                resume_at=resume_at,
                api_user_id=api_user_id,
                login_at=login_at,
            )
            return totals

        return self._transaction("finish the run", work)

    def batch_size_for(self, base_url: str) -> tuple[int, int | None] | None:
        """``(batch_size, rejected_at)`` learned about ``base_url`` by earlier runs, or None."""
        row = self._query("get_api_state", base_url=base_url.rstrip("/")).fetchone()
        return (int(row[0]), None if row[1] is None else int(row[1])) if row else None

    def remember_batch_size(self, base_url: str, size: int, rejected_at: int | None) -> None:
        """Keep the ids-per-call ``base_url`` accepts for the next runs."""
        self._transaction(
            "remember the batch size",
            lambda: self._run(
                "put_api_state",
                base_url=base_url.rstrip("/"),
                batch_size=size,
                rejected_at=rejected_at,
            ),
        )

    def lockout_until(self) -> datetime | None:
        """When the API's lockout (a bare 429 of an earlier run) ends; None if there is none."""
        row = self._query("lockout_until", org=self.org).fetchone()
        return row[0] if row else None

    def last_run(self, *, status: str | None = None) -> dict[str, Any] | None:
        """The newest ledger row of this org (optionally with ``status``) as a dict."""
        try:
            with self._connected() as conn:
                cursor = conn.execute(
                    query_sql("store", "last_run"), {"org": self.org, "status": status}
                )
                row = cursor.fetchone()
                names = [d[0] for d in cursor.description or ()]
        except duckdb.Error as exc:
            raise StorageError(f"cannot read the run ledger: {exc}") from exc
        return dict(zip(names, row, strict=True)) if row else None

    def recent_requests(self, *, window: float = 3600.0) -> list[tuple[float, int]]:
        """``(sent_by, requests)`` of this org's runs that may still count against a trailing
        ``window`` of seconds: the API counts requests per user across runs, so a new run's
        client budget starts with them (see ``RequestBudget.preload``)."""
        since = datetime.now(UTC) - timedelta(seconds=window)
        rows = self._query("recent_run_requests", org=self.org, since=since).fetchall()
        return [(float(at), int(n)) for at, n in rows]

    # -- cursor and open sessions ------------------------------------------------------------------

    def next_id(self) -> int | None:
        """The next session id a range scan asks for; None before the first scan."""
        row = self._query("get_next_id", org=self.org).fetchone()
        return int(row[0]) if row else None

    def set_cursor_if_absent(self, next_id: int, *, run_id: int | None = None) -> None:
        """Record where a first scan starts; an existing cursor is left as it is."""
        self._transaction(
            "set the scan cursor",
            lambda: self._run("set_cursor_if_absent", org=self.org, next_id=next_id, run_id=run_id),
        )

    def id_rate_points(self) -> tuple[tuple[int, datetime], tuple[int, datetime]] | None:
        """``(id, start_time)`` of the lowest and highest stored session of this org (the
        platform's id rate lies between them); None when nothing is stored."""
        row = self._query("id_rate_points", org=self.org).fetchone()
        if not row:
            return None
        return (int(row[0]), row[1]), (int(row[2]), row[3])

    def users_with_unseen_sessions(
        self, run_id: int, api_user: int | None, *, margin_seconds: float
    ) -> int:
        """Users whose stats of ``run_id`` report a session that a scan from the cursor could
        find (see the query's header; the API user left out); 0: nothing new to scan for."""
        row = self._query(
            "users_with_unseen_sessions",
            org=self.org,
            run_id=run_id,
            api_user=api_user,
            margin_seconds=margin_seconds,
        ).fetchone()
        return int(row[0]) if row else 0

    def open_session_ids(self) -> list[int]:
        """Ids of this org's stored sessions that are still open (end_time NULL), ascending."""
        return [int(r[0]) for r in self._query("open_session_ids", org=self.org).fetchall()]

    # -- data ------------------------------------------------------------------------------------

    def write_checkpoint(
        self,
        run_id: int,
        batch: NormalizedBatch,
        *,
        cursor: int | None,
        client: LedgerCounts | None = None,
    ) -> Checkpoint:
        """Merge ``batch`` and move the cursor to max(stored, ``cursor``) in ONE transaction;
        the checkpoint's counts (the merge's, plus ``client``: what the API client did since
        the previous checkpoint) are added to the ledger row in the same transaction."""
        if batch.org != self.org:
            raise StorageError(f"batch of org {batch.org!r} given to the store of {self.org!r}")

        def work() -> Checkpoint:
            merged = self._merge_sessions(run_id, batch.sessions)
            rejected = self._insert_rejected(run_id, batch.rejected)
            added = (client or LedgerCounts()) + LedgerCounts(
                fetched=batch.fetched,
                inserted=merged.inserted,
                updated=merged.updated,
                unchanged=merged.unchanged,
                rejected=rejected,
            )
            totals = self._add_checkpoint_counts(run_id, batch, added)
            if cursor is not None:
                self._advance_cursor(run_id, cursor)
            return Checkpoint(added, totals)

        return self._transaction("store a checkpoint", work)

    def write_users(self, run_id: int, users: list[dict[str, Any]]) -> int:
        """Upsert the users of one ``/user/list`` answer: new users are inserted, stored ones
        updated only where a value changed (an unchanged user is not written, its last_run_id
        stays the run that last changed it); returns the rows inserted or updated."""
        frame = normalize_users(users, org=self.org)

        def work() -> int:
            if not frame.height:
                return 0
            with self._staged("staged_users", frame):
                row = self._run("merge_users", run_id=run_id).fetchone()
            return int(row[0]) if row else 0

        return self._transaction("store users", work)

    def write_user_stats(self, run_id: int, stats: list[dict[str, Any]]) -> int:
        """Append one observation per user of ``userSessionStats``; returns the rows written."""
        frame = normalize_user_stats(stats, org=self.org)

        def work() -> int:
            if frame.height:
                with self._staged("staged_user_stats", frame):
                    self._run("insert_user_stats", run_id=run_id)
            return frame.height

        return self._transaction("store user session stats", work)

    # -- the steps of a checkpoint (separate so that tests can fail one) ---------------------------

    def _merge_sessions(self, run_id: int, sessions: pl.DataFrame) -> LedgerCounts:
        if sessions.height == 0:
            return LedgerCounts()
        if sessions["id"].n_unique() != sessions.height:  # user_sessions has no key (schema 8)
            raise StorageError("the checkpoint repeats a session id (one row per id is stored)")
        lo, hi = sessions["id"].min(), sessions["id"].max()
        stored = self._run("sessions_in_id_range", org=self.org, lo=lo, hi=hi).fetchall()
        new = stored[0][0] == 0  # none of these ids is stored: a plain insert, no MERGE
        with self._rollup_maintained(sessions, new=new), self._staged("staged_sessions", sessions):
            if new:
                self._run("insert_new_sessions", run_id=run_id).fetchall()
                return LedgerCounts(inserted=sessions.height)
            actions = self.conn.execute(  # the MERGE rendered from the field table
                SESSION_ROW.merge_sql(), {"run_id": run_id, "lo": lo, "hi": hi}
            ).fetchall()
        inserted = sum(1 for (action,) in actions if action == "INSERT")
        updated = sum(1 for (action,) in actions if action == "UPDATE")
        unchanged = sessions.height - inserted - updated
        return LedgerCounts(inserted=inserted, updated=updated, unchanged=unchanged)

    def _rollup_maintained(
        self, sessions: pl.DataFrame, *, new: bool
    ) -> AbstractContextManager[None]:
        """Keep app_version_daily_rollup exact across the merge of ``sessions``, in the same
        transaction: the UTC days the merge changes are found before it and recomputed after
        (see :mod:`session_audit.db.app_version_rollup`; ``new``: none of the ids is stored)."""
        return app_version_rollup.maintained(self.conn, sessions, new=new)

    def _insert_rejected(self, run_id: int, rejected: pl.DataFrame) -> int:
        if rejected.height == 0:
            return 0
        with self._staged("staged_rejected", rejected):
            self._run("insert_rejected", run_id=run_id)
        return rejected.height

    def _add_checkpoint_counts(
        self, run_id: int, batch: NormalizedBatch, counts: LedgerCounts
    ) -> LedgerCounts:
        ids = [
            v
            for v in (batch.sessions["id"].min(), batch.rejected["session_id"].min())
            if isinstance(v, int)
        ]
        return self._add_counts(run_id, counts, min(ids) if ids else None, batch.max_id)

    def _add_counts(
        self, run_id: int, counts: LedgerCounts, min_id: int | None, max_id: int | None
    ) -> LedgerCounts:
        """Add ``counts`` to the ledger row (inside the caller's transaction); its totals."""
        row = self._run(
            "add_run_counts", run_id=run_id, min_id=min_id, max_id=max_id, **counts.as_dict()
        ).fetchone()
        if row is None:
            raise StorageError(f"no ledger row for run {run_id}")
        return LedgerCounts.from_values(row)

    def _advance_cursor(self, run_id: int, cursor: int) -> None:
        self._run("advance_cursor", org=self.org, next_id=cursor, run_id=run_id)

    # -- plumbing --------------------------------------------------------------------------------

    def _run(self, name: str, **params: Any) -> duckdb.DuckDBPyConnection:
        return self.conn.execute(query_sql("store", name), params)

    def _query(self, name: str, **params: Any) -> _Rows:
        try:
            with self._connected() as conn:
                return _Rows(conn.execute(query_sql("store", name), params).fetchall())
        except duckdb.Error as exc:
            raise StorageError(f"query {name} failed: {exc}") from exc

    @contextmanager
    def _staged(self, view: str, frame: pl.DataFrame) -> Iterator[None]:
        self.conn.register(view, arrow_view(frame))
        try:
            yield
        except BaseException:
            # In an aborted transaction unregister fails too: keep the error that caused it
            # (e.g. DuckDB's "Corrupt database file"), not "Current transaction is aborted".
            with contextlib.suppress(duckdb.Error):
                self.conn.unregister(view)
            raise
        self.conn.unregister(view)

    def _transaction(self, what: str, work: Callable[[], T]) -> T:
        with self._connected():
            return self._in_transaction(what, work)

    def _in_transaction(self, what: str, work: Callable[[], T]) -> T:
        try:
            self.conn.execute("BEGIN TRANSACTION")
        except duckdb.Error as exc:
            raise StorageError(f"cannot {what}: {exc}") from exc
        try:
            result = work()
            self.conn.execute("COMMIT")
        except BaseException as exc:
            # A failed COMMIT already ended the transaction: nothing left to roll back.
            with contextlib.suppress(duckdb.Error):
                self.conn.execute("ROLLBACK")
            if isinstance(exc, duckdb.Error):
                raise StorageError(f"cannot {what}: {exc}") from exc
            if isinstance(exc, Exception) and not isinstance(exc, StorageError):
                raise StorageError(f"cannot {what}: {type(exc).__name__}: {exc}") from exc
            raise
        return result
