"""The one exception tree of session-audit.

Every error this package raises on purpose derives from :class:`SessionAuditError`, so a caller
(the CLI, a flow) can catch one class and print a one-line message instead of a traceback::

    SessionAuditError
    ├── Interrupted                 SIGINT/SIGTERM stopped a run cleanly (exit 128 + signal)
    ├── ConfigError                 bad settings, flags or input files (a user mistake)
    ├── ApiError                    anything that went wrong talking to the Tradovate API
    │   ├── AuthError               login refused: errorText from /auth/accesstokenrequest
    │   │   └── CaptchaRequiredError  p-captcha: a person must log in; retry in about an hour
    │   ├── TokenExpiredError       401 after renewal and one re-login: the session is gone
    │   ├── RateLimitedError        429 the retry policy gave up on (lockout risk)
    │   ├── ServerError             5xx the retry policy gave up on
    │   ├── TransportError          timeouts and connection errors the policy gave up on
    │   └── RequestRejectedError    other 4xx: our request was wrong (or too many ids)
    ├── StorageError                DuckDB problems
    │   ├── DatabaseLockedError     another ingest holds the database file
    │   └── MigrationError          the database file cannot be brought to the current schema
    └── ExportError                 export / verify problems
        └── VerificationError       an export no longer matches its manifest

Foreign exceptions (httpx, duckdb) are translated to these in one place each
(``session_audit.api.transport`` and ``session_audit.db.connection``), always ``raise X from exc``.
Messages never contain a password, secret or token.
"""

from __future__ import annotations


class SessionAuditError(Exception):
    """Root of every error raised on purpose by session-audit."""


class Interrupted(SessionAuditError):
    """A signal (SIGINT, SIGTERM) stopped a run cleanly: the ledger says 'interrupted'."""

    def __init__(self, message: str, *, signal_number: int) -> None:
        super().__init__(message)
        self.signal_number = signal_number


class ConfigError(SessionAuditError):
    """Bad settings, flags or input: the user can fix it."""


class ApiError(SessionAuditError):
    """A failure talking to the Tradovate API."""

    def __init__(self, message: str, *, status: int | None = None, path: str | None = None):
        super().__init__(message)
        self.status = status
        self.path = path


class AuthError(ApiError):
    """The API refused the login (errorText)."""


class CaptchaRequiredError(AuthError):
    """The login was throttled with p-captcha: no program can solve it."""


class TokenExpiredError(ApiError):
    """The token was refused even after a renewal and one fresh login."""


class RateLimitedError(ApiError):
    """HTTP 429 after the retry policy stopped. ``lockout``: a 429 without Retry-After, i.e. the
    API locked the user out for up to an hour (the run stops at once; the next run resumes)."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = 429,
        path: str | None = None,
        retry_after: float | None = None,
        lockout: bool = False,
    ):
        super().__init__(message, status=status, path=path)
        self.retry_after = retry_after
        self.lockout = lockout


class ServerError(ApiError):
    """HTTP 5xx after the retry policy stopped."""


class TransportError(ApiError):
    """Timeout or connection failure after the retry policy stopped."""


class RequestRejectedError(ApiError):
    """A 4xx other than 401/429: retrying the same request cannot help."""


class StorageError(SessionAuditError):
    """A DuckDB problem."""


class DatabaseLockedError(StorageError):
    """Another process holds the database file for writing."""


class MigrationError(StorageError):
    """The database file cannot be migrated to this version's schema."""


class ExportError(SessionAuditError):
    """An export or verification problem."""


class VerificationError(ExportError):
    """Files no longer match their manifest."""
