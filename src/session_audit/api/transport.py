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
httpx would build. :func:`send` does what httpx's ``AsyncClient.send`` does: httpx picks the
transport (a proxy's from the environment, or ours), keeps cookies, and reads the body. When
the transport httpx picks for the URL is our own and the client has nothing else to apply (no
auth, no event hooks, no redirects to follow), the request goes to that transport directly and
only what ``AsyncClient.send`` would do with its answer is done (cookies kept when the answer
sets any, httpx's "HTTP Request" log line when that logger is enabled): about 25 us of CPU less
per request. The answer's ``elapsed`` and a redirect's ``next_request`` are not set on that path
(session-audit reads neither).
"""

from __future__ import annotations

import logging
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
        return await _send(http, request)
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


_HTTPX_LOG = logging.getLogger("httpx")


def _direct_transport(http: httpx.AsyncClient, request: httpx.Request) -> KeepAliveTransport | None:
    """Our transport when ``http.send(request)`` would only hand ``request`` to it and read the
    answer (see the module docstring), else None."""
    if (
        http.is_closed
        or http.auth is not None
        or http.follow_redirects
        or "timeout" not in request.extensions
        or any(http.event_hooks.values())
    ):
        return None
    pick = getattr(http, "_transport_for_url", None)  # httpx's choice (proxies from the env)
    transport = pick(request.url) if pick is not None else None
    return transport if isinstance(transport, KeepAliveTransport) else None


async def _send(http: httpx.AsyncClient, request: httpx.Request) -> httpx.Response:
    """``http.send(request)`` (body read), directly through our transport where that is the same
    (:func:`_direct_transport`)."""
    transport = _direct_transport(http, request)
    if transport is None:
        return await http.send(request)
    response = await transport.handle_async_request(request)  # its body is already in memory
    response.request = request
    try:
        await response.aread()
    except BaseException:
        await response.aclose()
        raise
    response.history = []
    if "set-cookie" in response.headers or "set-cookie2" in response.headers:
        http.cookies.extract_cookies(response)
    if _HTTPX_LOG.isEnabledFor(logging.INFO):
        _HTTPX_LOG.info(
            'HTTP Request: %s %s "%s %d %s"',
            request.method,
            request.url,
            response.http_version,
            response.status_code,
            response.reason_phrase,
        )
    return response
