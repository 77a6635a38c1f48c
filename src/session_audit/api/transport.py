"""The one place where httpx exceptions become session-audit errors.

:func:`send` sends a built request and reads the whole body. Timeouts and connection failures
become :class:`TransportFailure` (a :class:`~session_audit.errors.TransportError`) tagged with the
retry cause; any other httpx error is a TransportError the policy does not retry. Messages name the
method and path only: our URLs carry no secret, and request headers (the token) are never quoted.
"""

from __future__ import annotations

import httpx

from session_audit.api.retry import FailureKind
from session_audit.errors import TransportError


class TransportFailure(TransportError):
    """A request that got no HTTP answer. ``kind`` is TIMEOUT, CONNECTION, or None (fatal)."""

    def __init__(self, message: str, *, kind: FailureKind | None, path: str | None = None):
        super().__init__(message, status=None, path=path)
        self.kind = kind


async def send(http: httpx.AsyncClient, request: httpx.Request) -> httpx.Response:
    """Send ``request`` and read its body; translate httpx failures."""
    path = request.url.path
    what = f"{request.method} {path}"
    try:
        return await http.send(request)
    except httpx.TimeoutException as exc:
        raise TransportFailure(
            f"{what} timed out ({type(exc).__name__})", kind=FailureKind.TIMEOUT, path=path
        ) from exc
    except (httpx.NetworkError, httpx.RemoteProtocolError) as exc:
        raise TransportFailure(
            f"{what} failed: connection problem ({type(exc).__name__})",
            kind=FailureKind.CONNECTION,
            path=path,
        ) from exc
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        raise TransportFailure(
            f"{what} failed: {type(exc).__name__}", kind=None, path=path
        ) from exc
