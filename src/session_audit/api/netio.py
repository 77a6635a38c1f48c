"""The API client's HTTP/1.1 transport: keep-alive connections on asyncio streams, parsed by h11.

httpx's default transport (httpcore's connection pool on anyio) spends most of a request's client
CPU in its own bookkeeping: three anyio locks per request (each acquisition yields to the event
loop once more), cancel scopes, an event per pool request, and for every pooled connection on
every request a "did the server close it" check that builds a dict of socket attributes and
makes a ``poll()`` system call. Against a 60k-session ingest that was about 0.75 ms of CPU per
request after everything else was trimmed; this transport does the same exchange for about
0.35 ms (docs/performance.md, "Where the CPU goes").

:class:`KeepAliveTransport` is an ``httpx.AsyncBaseTransport`` (requests in, ``httpx.Response``
out, httpx's own exception types), so everything above it, tests' transports included, is
unchanged. What it does:

* HTTP/1.1 only (httpx's default too), one request at a time per connection, ``h11`` for both
  directions (the parser httpcore uses);
* idle connections are kept per (scheme, host, port), at most ``max_idle`` of them, and are
  dropped after ``keepalive_expiry`` seconds of idleness (httpx's defaults: 20 and 5 s) or when
  the server closed them (the event loop has read the end of the stream);
* a GET sent on a reused connection that the server closed before answering any byte is sent
  again once on a fresh connection (the race every keep-alive client has); a POST is not
  (the retry policy above decides);
* ``https``: TLS with the SSL context given (certificate and host name checks are exactly that
  context's), the host name sent as SNI;
* timeouts from the request's ``timeout`` extension (connect, read, write), as httpx sets them;
* failures are httpx's exceptions (``ConnectError``, ``ConnectTimeout``, ``ReadError``,
  ``ReadTimeout``, ``WriteError``, ``WriteTimeout``, ``RemoteProtocolError``) raised ``from`` the
  original, so :mod:`session_audit.api.transport` still finds an ``ssl.SSLError`` in the chain;
* a request cancelled or failed half-way closes its connection (never reused in an unknown
  state).

Proxies from the environment are not its business: ``httpx.AsyncClient.send`` routes those
URLs to its own proxy transports.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import h11
import httpx

DEFAULT_PORTS = {b"http": 80, b"https": 443}
READ_SIZE = 65_536


@dataclass
class _Connection:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    http: h11.Connection
    idle_since: float = 0.0

    def usable(self, now: float, expiry: float) -> bool:
        """Still fit for a request after idling (the server has not closed it)."""
        return (
            now - self.idle_since <= expiry
            and not self.reader.at_eof()
            and not self.writer.transport.is_closing()
        )

    def close(self) -> None:
        # No wait for the peer: closing never blocks (a TLS close_notify goes out unanswered).
        self.writer.close()


class _StaleConnectionError(Exception):
    """A reused connection ended before the first byte of the answer."""


class KeepAliveTransport(httpx.AsyncBaseTransport):
    """HTTP/1.1 over kept-alive asyncio connections (see the module docstring)."""

    def __init__(
        self,
        *,
        ssl_context: ssl.SSLContext | None = None,
        max_idle: int = 20,
        keepalive_expiry: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ssl_context = ssl_context
        self._max_idle = max_idle
        self._expiry = keepalive_expiry
        self._clock = clock
        self._idle: dict[tuple[bytes, bytes, int], list[_Connection]] = {}

    @property
    def idle_connections(self) -> int:
        return sum(len(conns) for conns in self._idle.values())

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        scheme = url.raw_scheme
        if scheme not in DEFAULT_PORTS:
            raise httpx.UnsupportedProtocol(f"unsupported URL scheme {scheme!r}", request=request)
        key = (scheme, url.raw_host, url.port or DEFAULT_PORTS[scheme])
        timeouts: dict[str, Any] = request.extensions.get("timeout", {})
        body = await request.aread()
        conn = self._take_idle(key)
        if conn is not None:
            try:
                return await self._exchange(conn, key, request, body, timeouts, reused=True)
            except _StaleConnectionError as exc:
                if request.method != "GET":
                    raise httpx.RemoteProtocolError(
                        "the server closed the kept-alive connection without an answer",
                        request=request,
                    ) from exc
        conn = await self._connect(key, request, timeouts)
        try:
            return await self._exchange(conn, key, request, body, timeouts, reused=False)
        except _StaleConnectionError as exc:
            raise httpx.RemoteProtocolError(
                "Server disconnected without sending a response.", request=request
            ) from exc

    async def aclose(self) -> None:
        idle, self._idle = self._idle, {}
        for conns in idle.values():
            for conn in conns:
                conn.close()

    # -- connections ------------------------------------------------------------------------------

    def _take_idle(self, key: tuple[bytes, bytes, int]) -> _Connection | None:
        conns = self._idle.get(key)
        now = self._clock()
        while conns:
            conn = conns.pop()  # the most recently used one
            if conn.usable(now, self._expiry):
                return conn
            conn.close()
        return None

    def _put_idle(self, key: tuple[bytes, bytes, int], conn: _Connection) -> None:
        conns = self._idle.setdefault(key, [])
        if len(conns) >= self._max_idle:
            conn.close()
            return
        conn.idle_since = self._clock()
        conns.append(conn)

    async def _connect(
        self, key: tuple[bytes, bytes, int], request: httpx.Request, timeouts: dict[str, Any]
    ) -> _Connection:
        scheme, host, port = key
        tls: ssl.SSLContext | None = None
        if scheme == b"https":
            tls = self._ssl_context or httpx.create_ssl_context()  # verifying
        hostname = host.decode("ascii")
        try:
            async with asyncio.timeout(timeouts.get("connect")):
                reader, writer = await asyncio.open_connection(
                    hostname,
                    port,
                    ssl=tls,
                    server_hostname=hostname if tls is not None else None,
                    limit=READ_SIZE,
                )
        except TimeoutError as exc:
            raise httpx.ConnectTimeout(
                f"connecting to {hostname}:{port} timed out", request=request
            ) from exc
        except OSError as exc:  # ssl.SSLError included
            raise httpx.ConnectError(str(exc) or type(exc).__name__, request=request) from exc
        return _Connection(reader, writer, h11.Connection(h11.CLIENT))

    # -- one exchange ---------------------------------------------------------------------------

    async def _exchange(
        self,
        conn: _Connection,
        key: tuple[bytes, bytes, int],
        request: httpx.Request,
        body: bytes,
        timeouts: dict[str, Any],
        *,
        reused: bool,
    ) -> httpx.Response:
        try:
            response = await self._send_and_read(conn, request, body, timeouts, reused)
        except BaseException:
            conn.close()  # an unknown state (a timeout, a cancellation, a protocol error)
            raise
        if conn.http.our_state is h11.DONE and conn.http.their_state is h11.DONE:
            conn.http.start_next_cycle()
            self._put_idle(key, conn)
        else:
            conn.close()  # "Connection: close", or an answer that ended with the connection
        return response

    async def _send_and_read(
        self,
        conn: _Connection,
        request: httpx.Request,
        body: bytes,
        timeouts: dict[str, Any],
        reused: bool,
    ) -> httpx.Response:
        http = conn.http
        try:
            data = http.send(
                h11.Request(
                    method=request.method, target=request.url.raw_path, headers=request.headers.raw
                )
            )
            if body:
                data = (data or b"") + (http.send(h11.Data(data=body)) or b"")
            data = (data or b"") + (http.send(h11.EndOfMessage()) or b"")
        except h11.LocalProtocolError as exc:
            raise httpx.LocalProtocolError(str(exc), request=request) from exc
        try:
            conn.writer.write(data)
            async with asyncio.timeout(timeouts.get("write")):
                await conn.writer.drain()
        except TimeoutError as exc:
            raise httpx.WriteTimeout("writing the request timed out", request=request) from exc
        except (OSError, RuntimeError) as exc:
            if reused:
                raise _StaleConnectionError from exc
            raise httpx.WriteError(str(exc) or type(exc).__name__, request=request) from exc

        read_timeout = timeouts.get("read")
        status = 0
        reason = b""
        headers: list[tuple[bytes, bytes]] = []
        chunks: list[bytes] = []
        received = False
        while True:
            try:
                event = http.next_event()
            except h11.RemoteProtocolError as exc:
                if reused and not received:
                    raise _StaleConnectionError from exc
                raise httpx.RemoteProtocolError(str(exc), request=request) from exc
            if event is h11.NEED_DATA:
                try:
                    async with asyncio.timeout(read_timeout):
                        piece = await conn.reader.read(READ_SIZE)
                except TimeoutError as exc:
                    raise httpx.ReadTimeout(
                        "reading the answer timed out", request=request
                    ) from exc
                except OSError as exc:
                    if reused and not received:
                        raise _StaleConnectionError from exc
                    raise httpx.ReadError(str(exc) or type(exc).__name__, request=request) from exc
                if piece:
                    received = True
                http.receive_data(piece)  # b"": the server closed the connection
                continue
            if isinstance(event, h11.Response):
                status, reason = event.status_code, event.reason
                headers = list(event.headers.raw_items())
            elif isinstance(event, h11.Data):
                chunks.append(bytes(event.data))
            elif isinstance(event, h11.EndOfMessage):
                break
            elif isinstance(event, h11.ConnectionClosed):
                if reused and not received:
                    raise _StaleConnectionError
                raise httpx.RemoteProtocolError(
                    "Server disconnected without sending a response.", request=request
                )
            # h11.InformationalResponse (1xx): wait for the final answer
        return httpx.Response(
            status,
            headers=headers,
            stream=httpx.ByteStream(b"".join(chunks)),
            request=request,
            extensions={"http_version": b"HTTP/1.1", "reason_phrase": reason},
        )
