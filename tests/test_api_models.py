"""The API models keep secrets out of reprs and validation errors, and follow the spec.

(The session row's own declaration and its strict decoding are tested in test_session_row.py.)"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import SecretStr, ValidationError

from session_audit.api.models import AccessTokenRequest, AccessTokenResponse


def test_login_body_reveals_secrets_only_in_the_body() -> None:
    request = AccessTokenRequest(
        name="alice", password=SecretStr("pw-123"), cid="8", sec=SecretStr("s3c")
    )
    assert "pw-123" not in repr(request)
    assert "s3c" not in repr(request)
    body = request.body()
    assert body == {"name": "alice", "password": "pw-123", "cid": "8", "sec": "s3c"}
    assert request.body("TICKET") == {**body, "p-ticket": "TICKET"}


def test_an_over_long_password_error_does_not_echo_it() -> None:
    with pytest.raises(ValidationError) as caught:
        AccessTokenRequest(name="alice", password=SecretStr("x" * 65 + "SECRETTAIL"))
    assert "SECRETTAIL" not in str(caught.value)


def test_access_token_response_shapes() -> None:
    ok = AccessTokenResponse.model_validate(
        {"accessToken": "tok-abc", "expirationTime": "2026-03-02T12:00:00.000Z", "userId": 7}
    )
    assert ok.expiration_time == datetime(2026, 3, 2, 12, tzinfo=UTC)
    assert "tok-abc" not in repr(ok)
    ticket = AccessTokenResponse.model_validate({"p-ticket": "T", "p-time": 15, "p-captcha": False})
    assert (ticket.p_ticket, ticket.p_time, ticket.p_captcha) == ("T", 15, False)
    refused = AccessTokenResponse.model_validate({"errorText": "Incorrect username or password"})
    assert refused.access_token is None
