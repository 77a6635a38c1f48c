"""What an ingest run does first to its database, and doing it while the process starts.

:func:`open_writer` is the first step of every run (``IngestRun.__aenter__``): the credentials
settings are checked (a user mistake is said before the database is touched), the writer lock of
the database is taken (a second writer stops, naming the first) and the schema is migrated, the
file left open for the run's first unit of work. It returns the held
:class:`~session_audit.db.connection.WriterLock`.

:class:`PreparedWriter` runs :func:`open_writer` in a worker thread, so that the command line's
plain ingest opens and migrates the database (DuckDB's work, which does not hold the GIL: about
0.06-0.09 s) while the main thread imports what the run needs (polars, httpx, ...). The run takes
it over (``IngestRun(..., prepared=p)``: :meth:`PreparedWriter.take` waits for the thread and
returns the writer or raises exactly what :func:`open_writer` raised); :meth:`PreparedWriter.close`
releases a writer no run took (the lock and its sidecar). This module imports nothing heavy;
:class:`PreparedWriter` imports what the thread runs (duckdb, the migrations, the login request's
model) before starting it, so that the thread imports nothing itself.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from session_audit.db.connection import WriterLock
    from session_audit.settings import Settings


def open_writer(settings: Settings) -> WriterLock:
    """Check the credentials settings, take the writer lock of ``settings.db`` and migrate it.

    Raises ConfigError for missing or over-long credentials (nothing touched), the lock's errors
    (DatabaseLockedError, StorageError, ConfigError), or the migration's (the lock released)."""
    from session_audit.api.auth import build_login_request
    from session_audit.db.connection import WriterLock
    from session_audit.db.migrations import migrate

    build_login_request(settings)
    writer = WriterLock(settings.db, lock_timeout=settings.lock_timeout)
    writer.__enter__()
    try:
        with writer.connection() as conn:
            migrate(conn)
    except BaseException:
        writer.__exit__(None, None, None)
        raise
    return writer


class PreparedWriter:
    """:func:`open_writer` for ``settings``, started in a worker thread at construction."""

    def __init__(self, settings: Settings) -> None:
        # What the thread needs is imported here, by the caller: a thread importing modules while
        # the main thread imports others can meet it in a cycle of import locks, which Python
        # breaks by handing one of them a partially initialised module.
        import session_audit.api.auth
        import session_audit.db.connection
        import session_audit.db.migrations  # noqa: F401

        self.settings = settings
        self._writer: WriterLock | None = None
        self._error: BaseException | None = None
        self._done = False  # taken by a run, or closed
        self._thread = threading.Thread(target=self._prepare, name="prepare-db", daemon=True)
        self._thread.start()

    def _prepare(self) -> None:
        try:
            self._writer = open_writer(self.settings)
        except BaseException as exc:  # raised again, in the run, by take()
            self._error = exc

    def take(self) -> WriterLock:
        """The held writer (waits for the thread), or what preparing it raised."""
        self._thread.join()
        if self._done:
            raise RuntimeError("this prepared writer was already taken or closed")
        self._done = True
        if self._error is not None:
            raise self._error
        assert self._writer is not None
        return self._writer

    def close(self) -> None:
        """Release the writer if no run took it (waits for the thread)."""
        self._thread.join()
        if not self._done and self._writer is not None:
            self._writer.__exit__(None, None, None)
        self._done = True
