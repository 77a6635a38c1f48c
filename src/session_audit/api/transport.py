"""The one place where httpx exceptions become session-audit errors.

:func:`send` sends a built request and reads the whole body. Timeouts and connection failures
become :class:`TransportFailure` (a :class:`~session_audit.errors.TransportError`) tagged with the
retry cause; any other httpx error is a TransportError the policy does not retry. Messages name the
method and path only: our URLs carry no secret, and request headers (the token) are never quoted.

A certificate that does not verify (self-signed, expired, wrong host, a company proxy re-signing
traffic) is not a flaky connection: it fails the same way on every attempt. It becomes a one-line,
*not retried* TransportFailure naming the host and the verification reason, e.g. ``GET
/v1/auth/accesstokenrequest failed: TLS certificate of demo.example not trusted: certificate verify
failed: self-signed certificate``. Other TLS errors (a handshake cut short) stay retried connection
failures, their message naming the TLS reason.

The client's own transport comes from :func:`build_transport`: HTTP/1.1 keep-alive connections on
asyncio streams (:class:`session_audit.api.netio.KeepAliveTransport`), with the TLS context
httpx would build. :func:`send` is httpx's public ``AsyncClient.send``: httpx picks the
transport (a proxy's from the environment, or ours), keeps cookies, and reads the body.
"""

from __future__ import annotations

import ssl

import httpx

from session_audit.api.netio import KeepAliveTransport
from session_audit.api.retry import FailureKind
from session_audit.errors import TransportError


class TransportFailure(TransportError):
    """A request that got no HTTP answer. ``kind`` is TIMEOUT, CONNECTION, or None (fatal)."""

    def __init__(self, message: str, *, kind: FailureKind | None, path: str | None = None):
        super().__init__(message, status=None, path=path)
        self.kind = kind


def _ssl_cause(exc: BaseException) -> ssl.SSLError | None:
    """The :class:`ssl.SSLError` somewhere in ``exc``'s cause/context chain (httpx wraps
    httpcore's error, which wraps the ssl module's), or None."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, ssl.SSLError):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def describe_tls_error(error: ssl.SSLError) -> str:
    """One line naming what went wrong in the TLS handshake."""
    if isinstance(error, ssl.SSLCertVerificationError):
        reason = error.verify_message or getattr(error, "reason", None) or "unknown reason"
        return f"certificate verify failed: {reason}"
    # ``reason`` is set only on errors raised by OpenSSL itself
    reason = getattr(error, "reason", None) or error.strerror or type(error).__name__
    return f"TLS handshake failed: {reason}"


def build_transport(*, verify: bool) -> KeepAliveTransport:
    """The client's own transport (:class:`~session_audit.api.netio.KeepAliveTransport`).

    ``verify``: HTTPS certificates are checked against certifi's roots (or ``SSL_CERT_FILE`` /
    ``SSL_CERT_DIR``), exactly as ``httpx.AsyncHTTPTransport(verify=True)`` does; without it
    (a plain-http API root) no SSL context is built, and an https URL would still get a
    verifying one."""
    context = httpx.create_ssl_context(verify=True) if verify else None
    return KeepAliveTransport(ssl_context=context)


async def send(http: httpx.AsyncClient, request: httpx.Request) -> httpx.Response:
    """Send ``request`` with ``http`` and read the body; translate httpx failures."""
    path = request.url.path
    what = f"{request.method} {path}"
    try:
        return await http.send(request)
    except httpx.TimeoutException as exc:
        raise TransportFailure(
            f"{what} timed out ({type(exc).__name__})", kind=FailureKind.TIMEOUT, path=path
        ) from exc
    except (httpx.NetworkError, httpx.RemoteProtocolError) as exc:
        tls = _ssl_cause(exc)
        if isinstance(tls, ssl.SSLCertVerificationError):
            raise TransportFailure(
                f"{what} failed: TLS certificate of {request.url.host} not trusted: "
                + describe_tls_error(tls),
                kind=None,
                path=path,
            ) from exc
        problem = describe_tls_error(tls) if tls is not None else "connection problem"
        raise TransportFailure(
            f"{what} failed: {problem} ({type(exc).__name__})",
            kind=FailureKind.CONNECTION,
            path=path,
        ) from exc
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        raise TransportFailure(
            f"{what} failed: {type(exc).__name__}", kind=None, path=path
        ) from exc
