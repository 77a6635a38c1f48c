"""The Tradovate API client: :class:`TradovateClient` and its run counters."""

from session_audit.api.client import TradovateClient
from session_audit.api.counters import RunCounters
from session_audit.api.retry import Failure, FailureKind, RetryPolicy, decide, jitter

__all__ = [
    "Failure",
    "FailureKind",
    "RetryPolicy",
    "RunCounters",
    "TradovateClient",
    "decide",
    "jitter",
]
