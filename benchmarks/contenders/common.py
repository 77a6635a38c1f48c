"""What the non-session-audit contenders share: the login and the id ranges they fetch."""

from __future__ import annotations

from collections.abc import Iterator

import httpx

from session_audit.settings import Settings


def login_body(settings: Settings) -> dict[str, str]:
    return {
        "name": settings.username,
        "password": settings.password.get_secret_value(),
        "appId": settings.app_id,
        "appVersion": settings.app_version,
        "cid": settings.cid,
        "sec": settings.secret.get_secret_value(),
        "deviceId": settings.device_id,
    }


def access_token(answer: dict[str, object]) -> str:
    """The token of a login answer; the simulator here is configured without p-tickets."""
    if "accessToken" not in answer:
        keys = ", ".join(sorted(answer))
        raise RuntimeError(f"login refused (answer keys: {keys})")
    return str(answer["accessToken"])


def login_sync(settings: Settings) -> str:
    answer = httpx.post(
        f"{settings.base_url}/auth/accesstokenrequest", json=login_body(settings), timeout=30
    )
    answer.raise_for_status()
    return access_token(answer.json())


def id_batches(first: int, last: int, batch: int) -> Iterator[str]:
    """``ids`` query values covering first..last inclusive, ``batch`` ids per call."""
    for start in range(first, last + 1, batch):
        yield ",".join(map(str, range(start, min(start + batch, last + 1))))
