"""Logging of session-audit, configured in one place: :func:`configure_logging`.

Contract:

* The CLI calls :func:`configure_logging` once per command (``--log-level``, ``--log-format``);
  the handler goes on the ``session_audit`` logger (stderr) and :func:`restore_logging` undoes it,
  so an in-process caller (tests) finds logging as it was.
* ``text`` (the default): ``LEVEL logger: message`` per line. ``json``: one JSON object per line
  with ``time`` (UTC, ISO 8601), ``level``, ``logger``, ``message`` and, where known, ``run_id``
  (the ledger's run), ``org``, ``flow_run_id`` (Prefect) and ``error`` (the exception's type and
  first line; never a traceback).
* Where known: code that knows the run binds it for a block with
  ``with log_context(run_id=..., org=...):`` (or ``token = bind(...)`` ... ``unbind(token)``, or
  ``extra={"run_id": ...}`` on one call); the fields reach tasks started inside the block;
  inside a Prefect flow run the flow run id is added by itself (only when prefect is already
  imported: logging never imports it).
* Messages are formatted as the code wrote them: the code never logs a credential or token
  (see api/), and nothing here adds one.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar, Token
from datetime import UTC, datetime
from enum import StrEnum
from typing import IO, Any

import orjson

LOGGER = "session_audit"
LOG_LEVELS = ("debug", "info", "warning", "error")
LOG_FORMATS = ("text", "json")


class LogLevel(StrEnum):
    """The choices of ``--log-level``."""

    debug = "debug"
    info = "info"
    warning = "warning"
    error = "error"


class LogFormat(StrEnum):
    """The choices of ``--log-format``."""

    text = "text"
    json = "json"


DEFAULT_LEVEL = "warning"
DEFAULT_FORMAT = "text"
#: Record attributes copied into a JSON line when a caller passed them as ``extra``.
CONTEXT_FIELDS = ("run_id", "org", "flow_run_id", "tenant", "command")

_CONTEXT: ContextVar[Mapping[str, Any] | None] = ContextVar("session_audit_log_ctx", default=None)
_installed: logging.Handler | None = None
_saved_level: int | None = None


@contextmanager
def log_context(**fields: Any) -> Iterator[None]:
    """Add ``fields`` (``run_id``, ``org``...) to every record logged inside the block (this
    thread or task and the tasks it starts); None values are left out."""
    current = dict(_CONTEXT.get() or {})
    current.update({k: v for k, v in fields.items() if v is not None})
    token = _CONTEXT.set(current)
    try:
        yield
    finally:
        _CONTEXT.reset(token)


def bind(**fields: Any) -> Token[Mapping[str, Any] | None]:
    """Like :func:`log_context` for code that cannot wrap a block (an async context manager's
    ``__aenter__``): returns the token to pass to :func:`unbind` at the end."""
    current = dict(_CONTEXT.get() or {})
    current.update({k: v for k, v in fields.items() if v is not None})
    return _CONTEXT.set(current)


def unbind(token: Token[Mapping[str, Any] | None]) -> None:
    """Undo the :func:`bind` that returned ``token``."""
    _CONTEXT.reset(token)


def current_context() -> dict[str, Any]:
    """The fields :func:`log_context` bound here, plus the Prefect flow run id when inside one."""
    fields = dict(_CONTEXT.get() or {})
    flow_run_id = _prefect_flow_run_id()
    if flow_run_id is not None:
        fields.setdefault("flow_run_id", flow_run_id)
    return fields


def _prefect_flow_run_id() -> str | None:
    if "prefect.context" not in sys.modules:
        return None
    try:
        from prefect.context import FlowRunContext

        ctx = FlowRunContext.get()
    except Exception:  # logging must never fail because of an optional source
        return None
    run = getattr(ctx, "flow_run", None) if ctx is not None else None
    return str(run.id) if run is not None else None


class JsonFormatter(logging.Formatter):
    """One JSON object per line (see the module docstring for its keys)."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        data.update(current_context())
        for name in CONTEXT_FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                data[name] = value
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            first = str(exc).strip().splitlines()
            data["error"] = f"{type(exc).__name__}: {first[0]}" if first else type(exc).__name__
        return orjson.dumps(data, default=str).decode()


class TextFormatter(logging.Formatter):
    """``LEVEL logger: message [run_id=.. org=..]``; an exception as its type and first line."""

    def format(self, record: logging.LogRecord) -> str:
        fields = current_context()
        for name in CONTEXT_FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                fields[name] = value
        text = f"{record.levelname} {record.name}: {record.getMessage()}"
        if fields:
            text += " [" + " ".join(f"{k}={v}" for k, v in fields.items()) + "]"
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            first = str(exc).strip().splitlines()
            text += f" ({type(exc).__name__}: {first[0]})" if first else f" ({type(exc).__name__})"
        return text


def configure_logging(
    level: str = DEFAULT_LEVEL, fmt: str = DEFAULT_FORMAT, *, stream: IO[str] | None = None
) -> logging.Handler:
    """Send ``session_audit`` records at ``level`` or above to ``stream`` (stderr) as ``fmt``.

    Idempotent: a second call replaces the first one's handler. Raises ValueError for a level or
    format not in :data:`LOG_LEVELS` / :data:`LOG_FORMATS` (the CLI validates them first)."""
    global _installed, _saved_level
    if level not in LOG_LEVELS:
        raise ValueError(f"log level must be one of {', '.join(LOG_LEVELS)}, not {level!r}")
    if fmt not in LOG_FORMATS:
        raise ValueError(f"log format must be one of {', '.join(LOG_FORMATS)}, not {fmt!r}")
    logger = logging.getLogger(LOGGER)
    if _installed is not None:
        logger.removeHandler(_installed)
    else:
        _saved_level = logger.level
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    logger.addHandler(handler)
    logger.setLevel(level.upper())
    _installed = handler
    return handler


def restore_logging() -> None:
    """Undo :func:`configure_logging` (handler removed, the logger's level as it was)."""
    global _installed, _saved_level
    logger = logging.getLogger(LOGGER)
    if _installed is not None:
        logger.removeHandler(_installed)
        _installed.flush()
        logger.setLevel(_saved_level if _saved_level is not None else logging.NOTSET)
    _installed = None
    _saved_level = None
