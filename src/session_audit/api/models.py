"""Pydantic models true to the OpenAPI subset (``/work/shared/tradovate-openapi``).

Only what the client sends or reads at login is modelled: the session row is declared once, in
:mod:`session_audit.session_row` (its msgspec struct decodes ``userSession/items`` pages), and
users and their stats are typed value by value in :mod:`session_audit.ingest.normalize`. Field
names follow the API (camelCase) through aliases; string length limits are those of the spec.
Secrets (password, sec, accessToken) are :class:`~pydantic.SecretStr` so a ``repr`` or a validation
error never shows them, and models that carry a secret hide their input in validation errors.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr


class _ApiModel(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore", frozen=True)


class AccessTokenRequest(_ApiModel):
    """Body of ``POST /auth/accesstokenrequest``."""

    model_config = ConfigDict(
        populate_by_name=True, extra="forbid", frozen=True, hide_input_in_errors=True
    )

    name: str = Field(max_length=64)
    password: SecretStr = Field(max_length=64)
    app_id: str | None = Field(None, alias="appId", max_length=64)
    app_version: str | None = Field(None, alias="appVersion", max_length=64)
    device_id: str | None = Field(None, alias="deviceId", max_length=64)
    cid: str | None = Field(None, max_length=64)
    sec: SecretStr | None = Field(None, max_length=8192)

    def body(self, p_ticket: str | None = None) -> dict[str, Any]:
        """The JSON body to send (secrets revealed), plus ``p-ticket`` when resending."""
        body: dict[str, Any] = {"name": self.name, "password": self.password.get_secret_value()}
        optional = {
            "appId": self.app_id,
            "appVersion": self.app_version,
            "deviceId": self.device_id,
            "cid": self.cid,
            "sec": self.sec.get_secret_value() if self.sec is not None else None,
        }
        body.update({key: value for key, value in optional.items() if value})
        if p_ticket is not None:
            body["p-ticket"] = p_ticket
        return body


class AccessTokenResponse(_ApiModel):
    """Answer of ``/auth/accesstokenrequest`` and ``/auth/renewaccesstoken`` (always HTTP 200).

    Exactly one of three shapes: ``errorText`` (refused), the ``p-ticket`` trio (throttled), or a
    token with its ``expirationTime``.
    """

    model_config = ConfigDict(
        populate_by_name=True, extra="ignore", frozen=True, hide_input_in_errors=True
    )

    error_text: str | None = Field(None, alias="errorText", max_length=8192)
    access_token: SecretStr | None = Field(None, alias="accessToken", max_length=8192)
    expiration_time: datetime | None = Field(None, alias="expirationTime")
    password_expiration_time: datetime | None = Field(None, alias="passwordExpirationTime")
    user_status: str | None = Field(None, alias="userStatus")
    user_id: int | None = Field(None, alias="userId")
    name: str | None = None
    has_live: bool | None = Field(None, alias="hasLive")
    p_ticket: str | None = Field(None, alias="p-ticket")
    p_time: float | None = Field(None, alias="p-time")
    p_captcha: bool | None = Field(None, alias="p-captcha")
