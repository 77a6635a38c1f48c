"""The client's own HTTP transport (HTTP/1.1 keep-alive on asyncio streams) and its send path.

Over real sockets on 127.0.0.1: connections are kept alive and reused, an idle connection the
server closed is not reused (and a GET that meets one is sent again on a fresh connection),
chunked and gzip answers read as httpx reads them, a connection refused or an answer that never
comes are the same retried transport failures as before, TLS works with the context it is given.
The requests the client builds itself are the ones ``AsyncClient.build_request`` would build,
cookies included.
"""

from __future__ import annotations

import asyncio
import gzip
import ssl
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from session_audit.api import client as client_module
from session_audit.api import transport
from session_audit.api.client import TradovateClient
from session_audit.api.netio import KeepAliveTransport
from session_audit.api.retry import FailureKind
from session_audit.settings import Settings
from support import FakeTime, fake_time_client, fake_time_sim, served
from test_api_tls import self_signed

BODY = b'[{"id": 1}]'


@dataclass
class Server:
    """A keep-alive HTTP/1.1 server: answers ``BODY`` to every request; counts connections.
    ``close_after``: close each connection after that many answers; ``hold``: never answer;
    ``hang_up``: close the connection on the next request without answering; ``answer``: the
    raw answer (default: ``BODY`` with a content-length)."""

    port: int = 0
    connections: int = 0
    requests: list[bytes] = field(default_factory=list)
    close_after: int | None = None
    hold: asyncio.Event | None = None
    hang_up: bool = False
    answer: bytes = (
        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
        + b"content-length: %d\r\n\r\n" % len(BODY)
        + BODY
    )
    closed: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        answered = 0
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                self.requests.append(head)
                if b"content-length: " in head.lower():
                    size = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
                    self.requests.append(await reader.readexactly(size))
                if self.hang_up:
                    self.hang_up = False
                    break
                if self.hold is not None:
                    await self.hold.wait()
                writer.write(self.answer)
                await writer.drain()
                answered += 1
                if self.close_after is not None and answered >= self.close_after:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()
        self.closed.set()


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    state = Server()
    listener = await asyncio.start_server(state.handle, "127.0.0.1", 0)
    state.port = int(listener.sockets[0].getsockname()[1])
    async with listener:
        yield state


def client_of(port: int) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{port}", transport=transport.build_transport(verify=False)
    )


async def test_connections_are_kept_alive_and_reused(server: Server) -> None:
    async with client_of(server.port) as http:
        for _ in range(5):
            response = await transport.send(http, http.build_request("GET", "/x?ids=1,2"))
            assert response.status_code == 200
            assert response.content == BODY
            assert response.request.url.path == "/x"
    assert server.connections == 1
    assert len(server.requests) == 5
    assert server.requests[0].startswith(b"GET /x?ids=1,2 HTTP/1.1\r\n")


async def test_an_idle_connection_the_server_closed_is_not_reused(server: Server) -> None:
    server.close_after = 1
    async with client_of(server.port) as http:
        first = await transport.send(http, http.build_request("GET", "/a"))
        await server.closed.wait()  # the server hung up on the now idle connection
        for _ in range(3):  # let the event loop read the end of the stream
            await asyncio.sleep(0)
        second = await transport.send(http, http.build_request("GET", "/b"))
    assert (first.status_code, second.status_code) == (200, 200)
    assert server.connections == 2


async def test_an_answer_that_never_comes_is_a_retried_timeout(server: Server) -> None:
    server.hold = asyncio.Event()  # never set
    http = httpx.AsyncClient(
        transport=transport.build_transport(verify=False), timeout=httpx.Timeout(0.05)
    )
    async with http:
        with pytest.raises(transport.TransportFailure) as caught:
            await transport.send(
                http, http.build_request("GET", f"http://127.0.0.1:{server.port}/")
            )
    assert caught.value.kind is FailureKind.TIMEOUT
    assert isinstance(caught.value.__cause__, httpx.ReadTimeout)


async def test_a_refused_connection_is_a_retried_connection_failure() -> None:
    listener = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = int(listener.sockets[0].getsockname()[1])
    listener.close()
    await listener.wait_closed()  # nothing listens on that port any more
    async with client_of(port) as http:
        with pytest.raises(transport.TransportFailure, match="GET / failed") as caught:
            await transport.send(http, http.build_request("GET", "/"))
    assert caught.value.kind is FailureKind.CONNECTION
    assert isinstance(caught.value.__cause__, httpx.ConnectError)


async def test_tls_with_the_given_context(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(cert, key)
    state = Server()
    listener = await asyncio.start_server(state.handle, "127.0.0.1", 0, ssl=server_context)
    port = int(listener.sockets[0].getsockname()[1])
    trusting = ssl.create_default_context(cafile=str(cert))
    async with listener:
        async with httpx.AsyncClient(transport=KeepAliveTransport(ssl_context=trusting)) as http:
            for _ in range(2):
                request = http.build_request("GET", f"https://localhost:{port}/v1/x")
                answer = await transport.send(http, request)
                assert (answer.status_code, answer.content) == (200, BODY)
        assert state.connections == 1  # kept alive for both requests
        # the default context (certifi's roots) refuses the self-signed certificate
        async with httpx.AsyncClient(transport=transport.build_transport(verify=True)) as http:
            with pytest.raises(transport.TransportFailure, match="not trusted") as caught:
                await transport.send(http, http.build_request("GET", f"https://localhost:{port}/"))
    assert caught.value.kind is None  # not retried


async def test_a_get_that_meets_a_closed_kept_alive_connection_is_sent_again(
    server: Server,
) -> None:
    async with client_of(server.port) as http:
        await transport.send(http, http.build_request("GET", "/a"))
        server.hang_up = True  # the server drops the connection when the next request arrives
        answer = await transport.send(http, http.build_request("GET", "/b"))
    assert answer.content == BODY
    assert server.connections == 2
    assert [r.split(b" ")[1] for r in server.requests] == [b"/a", b"/b", b"/b"]


async def test_a_post_that_meets_a_closed_kept_alive_connection_is_not_sent_again(
    server: Server,
) -> None:
    async with client_of(server.port) as http:
        await transport.send(http, http.build_request("GET", "/a"))
        server.hang_up = True
        with pytest.raises(transport.TransportFailure) as caught:
            await transport.send(http, http.build_request("POST", "/login", json={"a": 1}))
    assert caught.value.kind is FailureKind.CONNECTION  # the retry policy decides
    assert server.connections == 1


async def test_idle_connections_expire_on_the_transports_clock(server: Server) -> None:
    now = [100.0]
    keep = KeepAliveTransport(keepalive_expiry=5.0, clock=lambda: now[0])
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{server.port}", transport=keep
    ) as http:
        await transport.send(http, http.build_request("GET", "/a"))
        now[0] += 5.0
        await transport.send(http, http.build_request("GET", "/b"))  # 5 s idle: still kept
        assert server.connections == 1
        now[0] += 5.1
        await transport.send(http, http.build_request("GET", "/c"))
        assert server.connections == 2
        assert keep.idle_connections == 1


async def test_chunked_gzip_and_connection_close_answers(server: Server) -> None:
    packed = gzip.compress(b'[{"id": 2}]')
    half = len(packed) // 2
    server.answer = (
        b"HTTP/1.1 200 OK\r\ncontent-encoding: gzip\r\ntransfer-encoding: chunked\r\n"
        b"connection: close\r\n\r\n"
        + b"%x\r\n" % half
        + packed[:half]
        + b"\r\n"
        + b"%x\r\n" % (len(packed) - half)
        + packed[half:]
        + b"\r\n0\r\n\r\n"
    )
    keep = transport.build_transport(verify=False)
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{server.port}", transport=keep
    ) as http:
        for _ in range(2):
            answer = await transport.send(http, http.build_request("GET", "/x"))
            assert answer.content == b'[{"id": 2}]'
            assert answer.http_version == "HTTP/1.1"
        assert keep.idle_connections == 0  # "connection: close" is honoured
    assert server.connections == 2


def test_the_client_builds_what_build_request_would() -> None:
    client = TradovateClient(Settings(base_url="https://demo.example/v1"))
    for path in ("/userSession/items?ids=1,2,3", "/user/list"):
        for headers in (None, client._bearer_headers("tok")):
            ours = client._request("GET", path, None, headers)
            theirs = client._http.build_request("GET", path, headers=headers)
            assert ours.url == theirs.url
            assert ours.headers.raw == theirs.headers.raw
            assert ours.extensions == theirs.extensions
    assert client._bearer_headers("tok") is client._bearer_headers("tok")  # built once
    assert client._bearer_headers("other")["Authorization"] == "Bearer other"


async def test_cookies_are_kept_and_sent_as_httpx_does() -> None:
    seen: list[str | None] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("cookie"))
        return httpx.Response(200, json=[], headers={"set-cookie": "lb=node7; Path=/"})

    time = FakeTime()
    sim = fake_time_sim(time)
    client = fake_time_client(sim, time, httpx.MockTransport(handler))
    async with client:
        for _ in range(2):
            await client._call("GET", "/user/list", bearer="t")
    assert seen == [None, "lb=node7"]


async def test_a_real_client_against_the_served_simulator_uses_its_own_transport(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    made: list[KeepAliveTransport] = []

    def recording(*, verify: bool) -> KeepAliveTransport:
        made.append(transport.build_transport(verify=verify))
        return made[-1]

    monkeypatch.setattr(client_module, "build_transport", recording)
    time = FakeTime()
    sim = fake_time_sim(time, users=20, sessions=300)
    with served(sim) as (url,):
        settings = Settings.model_validate({**sim.settings_overrides(url), "concurrency": 4})
        async with TradovateClient(settings) as client:
            first = sim.table.ids[0]
            rows = await client.session_items(range(first, first + 300))
            assert len(rows) >= 250
            assert client.counters.requests >= 4  # login + three 100-id calls
            assert len(made) == 1
            assert made[0].idle_connections >= 1  # the answers came through it, kept alive


def test_httpx_command_line_client_is_not_imported() -> None:
    code = (
        "import sys, session_audit, httpx; "
        "print(sorted(m for m in ('click', 'rich', 'pygments') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"
