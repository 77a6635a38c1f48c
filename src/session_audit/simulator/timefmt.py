"""Timestamps as the Tradovate API writes them: ISO 8601 UTC with milliseconds and ``Z``."""

from __future__ import annotations

import time


def iso_ms(epoch_ms: int) -> str:
    """``1782898212345`` -> ``"2026-07-01T09:30:12.345Z"``."""
    seconds, millis = divmod(epoch_ms, 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}Z"


def iso_seconds(epoch_seconds: float) -> str:
    """A float epoch (e.g. a token expiry from the clock) in the API's format."""
    return iso_ms(round(epoch_seconds * 1000))
