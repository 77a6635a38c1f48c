"""Open the DuckDB file: the one place where duckdb exceptions become ours.

* :func:`connect` opens a connection with ``TimeZone='UTC'`` and translates failures: the file
  lock held by another process -> :class:`DatabaseLockedError` naming the holder (retrying until
  ``lock_timeout`` seconds have passed); a missing file opened read-only, or a file that is not a
  DuckDB database -> :class:`ConfigError`; any OS error on the path (a missing or read-only
  folder, a regular file where a folder should be) -> one-line :class:`StorageError`.
* ``connect(path, read_only=True, sandbox=True)`` is the connection for user-written SQL: no file
  system access beyond the database itself (``enable_external_access=false``: ATTACH, COPY,
  EXPORT/IMPORT DATABASE, read_*/glob table functions, INSTALL/LOAD of extensions all fail), no
  extension autoloading, and the configuration locked after the time zone is set
  (``lock_configuration=true``: SET/RESET/PRAGMA settings fail). Views keep working.
* :func:`transaction` runs a block in one transaction: committed when the block ends, rolled
  back when it raises (the error is the block's).
* :func:`storage_error` turns a DuckDB error raised while using a connection into a
  :class:`StorageError`; a corrupt file is reported as corruption with DuckDB's own message.
* :class:`WriterLock` is the single-writer guarantee: an exclusive ``flock`` on ``<db>.lock`` for
  the whole run plus a small sidecar file ``<db>.writer.json`` (pid, started_at, command) that lets
  a second writer name the first one; the database itself is opened per checkpoint
  (``lock.connection()``), so readers wait at most one commit. :class:`writer` holds the lock and
  one connection for a whole block.

DuckDB itself allows one writing process per file, and no reader while it is open for writing.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import duckdb
import orjson

from session_audit.errors import ConfigError, DatabaseLockedError, StorageError

if TYPE_CHECKING:
    import polars as pl

MEMORY = ":memory:"
# How long a reader (query, export, report) waits by default for a writer to let the file go:
# an ingest holds it only while it commits a checkpoint (see WriterLock).
READER_WAIT = 10.0
_log = logging.getLogger("session_audit.db")
# Storage format of a NEW database file (DuckDB's storage_compatibility_version): the DuckDB 1.x
# CLI and clients can open it (tested with duckdb-cli 1.5.6; DuckDB 2.x's default format cannot
# be read before 2.0). Existing files keep the format they were created with. Every connection
# passes the same value: DuckDB refuses a second connection to a file with another config.
STORAGE_VERSION = "v1.4.0"
_LOCK_PID = re.compile(r"Conflicting lock is held in (?P<prog>.*?) \(PID (?P<pid>\d+)\)")
_SECRET_FLAG = re.compile(r"pass|secret|token|^--sec|^--cid", re.IGNORECASE)
_RETRY_EVERY = 0.2
# DuckDB's messages for a file whose bytes are damaged (block checksums, short reads, headers).
_CORRUPTION = re.compile(
    r"Corrupt database file|database has been invalidated|[Cc]ould not read enough bytes|"
    r"computed checksum \S+ does not match stored checksum"
)
# Errors about the statement itself, whatever text (a table name) they quote.
_STATEMENT_ERRORS = (duckdb.ParserException, duckdb.CatalogException, duckdb.BinderException)
# Sandboxed connections (user SQL): no file system, no extension loading, config locked later.
_SANDBOX_CONFIG = {
    "enable_external_access": False,
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
    "allow_community_extensions": False,
}


def arrow_view(frame: pl.DataFrame) -> Any:
    """``frame`` as a pyarrow table DuckDB can scan (``conn.register``), without a copy: polars'
    own string views (``CompatLevel.newest``), which DuckDB reads as they are. The default
    ``to_arrow()`` copies every string column into ``large_string`` (~6 ms per 50,000-session
    checkpoint)."""
    import polars as pl

    return frame.to_arrow(compat_level=pl.CompatLevel.newest())


def sidecar_path(path: Path | str) -> Path:
    """Where the writer holding ``path`` describes itself."""
    return Path(f"{path}.writer.json")


def connect(
    path: Path | str,
    *,
    read_only: bool = False,
    lock_timeout: float | None = None,
    sandbox: bool = False,
) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection to ``path`` (or ``":memory:"``) with the session time zone UTC.

    ``lock_timeout``: seconds to wait while another process holds the file (None: a reader waits
    up to :data:`READER_WAIT`, a writer not at all); a wait is logged once, saying why.

    ``sandbox=True`` (for user SQL): external access disabled, no extension autoloading and the
    configuration locked. Raises DatabaseLockedError when another process holds the file for
    longer than ``lock_timeout`` seconds, ConfigError for a missing (read-only) or foreign file,
    StorageError for an OS error on the path or a corrupt file.
    """
    target = str(path)
    if target != MEMORY:
        _check_path(Path(target), read_only=read_only)
    config: dict[str, Any] = dict(_SANDBOX_CONFIG) if sandbox else {}
    config["storage_compatibility_version"] = STORAGE_VERSION
    if lock_timeout is None:
        lock_timeout = READER_WAIT if read_only else 0.0
    started = time.monotonic()
    deadline = started + max(lock_timeout, 0.0)
    announced = False
    while True:
        try:
            conn = duckdb.connect(target, read_only=read_only, config=config)
            break
        except duckdb.Error as exc:
            error = _translate(exc, target)
            if isinstance(error, DatabaseLockedError) and time.monotonic() < deadline:
                if not announced:
                    # say why a reader waits: an ingest is committing a checkpoint
                    _log.warning(
                        "waiting up to %.0f s: %s is open for writing by %s (an ingest "
                        "commits a checkpoint, then lets go)",
                        lock_timeout,
                        target,
                        describe_holder(target, str(exc)),
                    )
                    announced = True
                time.sleep(min(_RETRY_EVERY, max(deadline - time.monotonic(), 0.0)))
                continue
            raise error from exc
    if announced:
        _log.warning("%s opened after %.1f s", target, time.monotonic() - started)
    try:
        conn.execute("SET TimeZone = 'UTC'")
        if sandbox:
            conn.execute("SET lock_configuration = true")
    except duckdb.Error as exc:
        conn.close()
        raise StorageError(f"cannot configure the connection to {target}: {exc}") from exc
    return conn


@contextlib.contextmanager
def transaction(conn: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """``BEGIN`` ... ``COMMIT`` around the block; ``ROLLBACK`` when it raises, then its error."""
    conn.execute("BEGIN TRANSACTION")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def _check_path(file: Path, *, read_only: bool) -> None:
    """Refuse, in one line, a path DuckDB could only fail on with an OS error."""
    try:
        if file.is_dir():
            raise ConfigError(f"--db {file} is a directory, not a DuckDB file")
        for parent in file.parents:
            if parent.exists():
                if not parent.is_dir():
                    raise ConfigError(f"--db {file}: {parent} is a file, not a directory")
                break
        if read_only:
            if not file.exists():
                raise ConfigError(f"no database at {file}; run `session-audit ingest` first")
            return
        file.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StorageError(f"cannot use database path {file}: {_os_reason(exc)}") from exc


def _os_reason(exc: OSError) -> str:
    return exc.strerror or str(exc) or type(exc).__name__


def storage_error(exc: duckdb.Error, doing: str) -> StorageError:
    """A StorageError for a DuckDB error raised while ``doing`` something on an open database.

    Corruption keeps DuckDB's own first line and says so, so it is never mistaken for (or hidden
    behind) a later "transaction is aborted" error."""
    text = _first_line(exc)
    if is_corruption(exc):
        return StorageError(f"{doing} failed: the database file is corrupt: {text}")
    return StorageError(f"{doing} failed: {text}")


def is_corruption(exc: BaseException) -> bool:
    """True when a DuckDB error says the file's bytes are damaged."""
    return not isinstance(exc, _STATEMENT_ERRORS) and bool(_CORRUPTION.search(str(exc)))


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def _translate(exc: duckdb.Error, target: str) -> StorageError | ConfigError:
    text = str(exc)
    if "Could not set lock" in text or "Conflicting lock" in text:
        return DatabaseLockedError(
            f"database {target} is in use by {describe_holder(target, text)}; "
            "wait for it to finish or pass a lock timeout"
        )
    if "different configuration" in text:
        return DatabaseLockedError(
            f"database {target} is already open in this process in another mode "
            "(read-only vs writer)"
        )
    if "not a valid DuckDB database" in text or "version number" in text:
        return ConfigError(f"{target} is not a DuckDB database this version can read: {text}")
    if "database does not exist" in text:
        return ConfigError(f"no database at {target}; run `session-audit ingest` first")
    if is_corruption(exc):
        return StorageError(f"the database file {target} is corrupt: {_first_line(exc)}")
    return StorageError(f"cannot open database {target}: {_first_line(exc)}")


def describe_holder(target: str, message: str = "") -> str:
    """A human description of the process holding ``target``: the sidecar's pid, command and
    start time when it matches the lock holder, else what DuckDB's lock message says."""
    match = _LOCK_PID.search(message)
    lock_pid = int(match.group("pid")) if match else None
    info = read_sidecar(target)
    if info is not None and (lock_pid is None or info.get("pid") == lock_pid):
        return (
            f"another session-audit writer: pid {info.get('pid')} "
            f"(`{info.get('command', '?')}`, started {info.get('started_at', '?')})"
        )
    if match:
        return f"another process: pid {lock_pid} ({match.group('prog')})"
    return "another process"


def read_sidecar(path: Path | str) -> dict[str, Any] | None:
    """The writer sidecar of ``path``, or None when absent or unreadable."""
    try:
        data = orjson.loads(sidecar_path(path).read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return None
    return data if isinstance(data, dict) else None


def redacted_command(argv: list[str] | None = None) -> str:
    """The command line with the value of any secret-looking option masked."""
    args = list(sys.argv if argv is None else argv)
    out: list[str] = []
    mask_next = False
    for arg in args:
        if mask_next:
            out.append("***")
            mask_next = False
            continue
        if arg.startswith("-") and _SECRET_FLAG.search(arg.split("=", 1)[0]):
            if "=" in arg:
                out.append(arg.split("=", 1)[0] + "=***")
            else:
                out.append(arg)
                mask_next = True
            continue
        out.append(arg)
    if out:
        out[0] = Path(out[0]).name
    return " ".join(out)


def lock_path(path: Path | str) -> Path:
    """The lock file whose exclusive ``flock`` is the one-writer guarantee of ``path``."""
    return Path(f"{path}.lock")


class WriterLock:
    """The single-writer guarantee of an ingest, without holding the database open.

    ``with WriterLock(path, lock_timeout=0) as lock:`` takes an exclusive ``flock`` on
    ``<db>.lock`` for the whole run (a second writer stops at once, naming this one from the
    sidecar ``<db>.writer.json``; or waits ``lock_timeout`` seconds) and writes the sidecar.
    ``with lock.connection() as conn:`` gives the database for one checkpoint; it is closed again
    once it has been open ``hold_seconds`` (1 s), so that readers in other processes (`query`,
    `export`, `report`, the DuckDB CLI) wait about that long and one commit; the open itself
    waits up to ``open_timeout`` seconds for readers that hold the file. The kernel releases the
    lock when the process dies (kill -9).
    """

    def __init__(
        self,
        path: Path | str,
        *,
        lock_timeout: float = 0,
        command: str | None = None,
        open_timeout: float = 120.0,
        hold_seconds: float = 1.0,
    ) -> None:
        self.path = Path(path)
        self.lock_timeout = lock_timeout
        self.open_timeout = open_timeout
        self.hold_seconds = hold_seconds
        self.command = command if command is not None else redacted_command()
        self._fd: int | None = None
        self._conn: duckdb.DuckDBPyConnection | None = None
        self._opened = 0.0

    def __enter__(self) -> WriterLock:
        import fcntl

        target = str(self.path)
        _check_path(self.path, read_only=False)
        try:
            fd = os.open(lock_path(self.path), os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise StorageError(
                f"cannot create the lock file of {target}: {_os_reason(exc)}"
            ) from exc
        deadline = time.monotonic() + max(self.lock_timeout, 0.0)
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    os.close(fd)
                    raise DatabaseLockedError(
                        f"database {target} is being written by {describe_holder(target)}; "
                        "wait for it to finish, or set SESSION_AUDIT_LOCK_TIMEOUT / "
                        "--lock-timeout to wait for it"
                    ) from None
                time.sleep(min(_RETRY_EVERY, max(deadline - time.monotonic(), 0.0)))
        self._fd = fd
        _write_sidecar(self.path, self.command)
        return self

    @contextlib.contextmanager
    def connection(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """The database for one unit of work. It stays open for the units that follow within
        ``hold_seconds`` of opening it (opening and closing, which writes the WAL back into the
        file, costs more than a small checkpoint), and is closed after the first unit past that
        (or after a failed one), so a reader waits about ``hold_seconds`` and one commit."""
        if self._fd is None:
            raise StorageError(f"the writer lock of {self.path} is not held")
        if self._conn is None:
            self._conn = connect(self.path, lock_timeout=self.open_timeout)
            self._opened = time.monotonic()
        ok = False
        try:
            yield self._conn
            ok = True
        finally:
            if not ok or time.monotonic() - self._opened >= self.hold_seconds:
                self.release()

    def release(self) -> None:
        """Close the database now (the lock stays held)."""
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._fd is None:
            return
        try:
            self.release()
            _remove_sidecar(self.path)
        finally:
            os.close(self._fd)  # releases the flock
            self._fd = None


class writer:  # used like a function: `with writer(path) as conn:`
    """Hold the writer lock of ``path`` and one writing connection for the whole block.

    ``with writer(path, lock_timeout=30) as conn: ...`` (maintenance, tests); the ingest uses
    :class:`WriterLock` and opens the file per checkpoint instead. The connection is closed and
    the lock and sidecar released on exit, whatever happened.
    """

    def __init__(
        self, path: Path | str, *, lock_timeout: float = 0, command: str | None = None
    ) -> None:
        self.lock = WriterLock(path, lock_timeout=lock_timeout, command=command)
        self.path = self.lock.path
        self.lock_timeout = lock_timeout
        self.conn: duckdb.DuckDBPyConnection | None = None

    def __enter__(self) -> duckdb.DuckDBPyConnection:
        self.lock.__enter__()
        try:
            self.conn = connect(self.path, lock_timeout=self.lock_timeout)
        except BaseException:
            self.lock.__exit__(None, None, None)
            raise
        return self.conn

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if self.conn is not None:
                self.conn.close()
        finally:
            self.conn = None
            self.lock.__exit__(exc_type, exc, tb)


def _write_sidecar(path: Path, command: str) -> None:
    info = {
        "pid": os.getpid(),
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": command,
    }
    side = sidecar_path(path)
    tmp = side.with_name(f"{side.name}.{os.getpid()}.tmp")
    try:
        tmp.write_bytes(orjson.dumps(info))
        tmp.replace(side)
    except OSError:
        # The sidecar only improves an error message; a read-only dir must not stop a run.
        with contextlib.suppress(OSError):
            tmp.unlink()


def _remove_sidecar(path: Path) -> None:
    info = read_sidecar(path)
    if info is not None and info.get("pid") == os.getpid():
        with contextlib.suppress(OSError):
            sidecar_path(path).unlink()
