"""What an in-process caller hands to a flow without making it a flow parameter.

Flow parameters are stored by the Prefect server, so they must be small and never secret. A caller
in the same process (``run_ingest_flow``, the demo) already holds a validated :class:`Settings`
(credentials included), maybe a long list of ids and a progress callback; it sets them here for the
duration of the call, and the flow entry picks them up. A flow run started by a deployment or
worker finds nothing here and reads its Settings from the environment once, at its entry.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from session_audit.ingest.runner import IdSource, ProgressSink
from session_audit.settings import Settings, load_settings

if TYPE_CHECKING:
    from session_audit.scale.staging import StagedChunk


@dataclass(frozen=True)
class LocalRun:
    """In-process inputs of a flow call (all optional)."""

    settings: Settings | None = None
    source: IdSource | None = None
    progress: ProgressSink | None = None
    #: what a staged run's chunk task calls instead of ``scale.worker.extract_chunk`` (tests)
    extract: Callable[..., StagedChunk] | None = None


_NOTHING = LocalRun()
_LOCAL: ContextVar[LocalRun | None] = ContextVar("session_audit_local_run", default=None)


@contextmanager
def local_run(
    settings: Settings | None = None,
    source: IdSource | None = None,
    progress: ProgressSink | None = None,
    extract: Callable[..., StagedChunk] | None = None,
) -> Iterator[LocalRun]:
    """Make ``settings``/``source``/``progress`` (and a chunk ``extract``) visible to flows
    called inside the block."""
    value = LocalRun(settings=settings, source=source, progress=progress, extract=extract)
    token = _LOCAL.set(value)
    try:
        yield value
    finally:
        _LOCAL.reset(token)


def current_local_run() -> LocalRun:
    return _LOCAL.get() or _NOTHING


def resolve_settings(**overrides: Any) -> Settings:
    """The Settings of a flow run, read once at its entry: the in-process caller's Settings with
    the flow parameters applied, or else environment + ``.env`` + parameters."""
    base = current_local_run().settings
    if base is not None:
        return base.with_overrides(**overrides)
    return load_settings(**overrides)
