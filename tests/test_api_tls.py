"""TLS failures name the certificate problem in one line and are not retried."""

from __future__ import annotations

import asyncio
import datetime as dt
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from session_audit.api import TradovateClient
from session_audit.errors import TransportError
from session_audit.settings import Settings
from support import FakeTime

# The certificate's validity is fixed, not derived from today: it is refused for being
# self-signed before its dates could matter (OpenSSL checks the chain first).
NOT_BEFORE = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
NOT_AFTER = dt.datetime(2045, 1, 1, tzinfo=dt.UTC)


def self_signed(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(NOT_BEFORE)
        .not_valid_after(NOT_AFTER)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@pytest.fixture
async def tls_port(tmp_path: Path) -> AsyncIterator[int]:
    """A TLS server on 127.0.0.1 with a self-signed certificate (it never gets a request)."""
    cert, key = self_signed(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=context)
    port = int(server.sockets[0].getsockname()[1])
    async with server:
        yield port


def settings(base_url: str) -> Settings:
    return Settings(base_url=base_url, username="alice", password="pw", max_attempts=4)


async def test_self_signed_certificate_is_named_in_one_line_and_not_retried(
    tls_port: int,
) -> None:
    time = FakeTime()
    url = f"https://localhost:{tls_port}/v1"
    async with TradovateClient(settings(url), sleep=time.sleep, clock=time.clock) as client:
        with pytest.raises(TransportError) as caught:
            await client.login()
    message = str(caught.value)
    assert "\n" not in message
    assert "certificate verify failed: self-signed certificate" in message
    assert "localhost" in message
    assert time.sleeps == []  # no retry: the same certificate fails every time
    assert client.counters.requests == 1
    assert isinstance(caught.value.__cause__, httpx.ConnectError)


async def test_a_verification_error_wrapped_by_httpx_is_translated() -> None:
    time = FakeTime()
    calls = 0

    def refuse(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        error = ssl.SSLCertVerificationError(1, "certificate verify failed")
        error.verify_message = "certificate has expired"
        error.reason = "CERTIFICATE_VERIFY_FAILED"
        raise httpx.ConnectError("[SSL: CERTIFICATE_VERIFY_FAILED]") from error

    client = TradovateClient(
        settings("https://api.example/v1"),
        transport=httpx.MockTransport(refuse),
        sleep=time.sleep,
        clock=time.clock,
    )
    async with client:
        with pytest.raises(
            TransportError, match="certificate verify failed: certificate has expired"
        ):
            await client.login()
    assert calls == 1
    assert time.sleeps == []


async def test_other_tls_errors_stay_retried_connection_failures() -> None:
    time = FakeTime()
    calls = 0

    def cut(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        error = ssl.SSLEOFError(8, "EOF occurred in violation of protocol")
        raise httpx.ConnectError("handshake cut") from error

    client = TradovateClient(
        settings("https://api.example/v1"),
        transport=httpx.MockTransport(cut),
        sleep=time.sleep,
        clock=time.clock,
    )
    async with client:
        with pytest.raises(TransportError, match=r"TLS handshake failed.*gave up after 4 attempts"):
            await client.login()
    assert calls == 4
