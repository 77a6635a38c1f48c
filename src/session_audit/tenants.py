"""Several organisations in one database: the tenants file (TOML).

``session-audit ingest --tenants tenants.toml`` (or ``SESSION_AUDIT_TENANTS``) runs one ingest
per tenant, one after the other, into the same DuckDB file. Every row carries the tenant's name in
the ``org`` column and the scan cursor is kept per org (``ingest_state``), so tenants never mix;
views and exports filter by org (``export --org``). One file rather than one database per tenant:
a single writer lock, cross-organisation compliance queries, one set of views and migrations.

The file names *which environment variables* hold each tenant's secrets, never the secrets::

    [[tenant]]
    name = "acme"                                  # stored as org; letters, digits, _ . -
    base_url = "https://live.tradovateapi.com/v1"
    username_env = "ACME_TRADOVATE_USERNAME"       # or username = "plain name"
    password_env = "ACME_TRADOVATE_PASSWORD"
    cid_env = "ACME_TRADOVATE_CID"                 # optional; or cid = "123"
    secret_env = "ACME_TRADOVATE_SECRET"           # optional
    # optional: app_id, app_version, device_id, start_id (first scan), requests_per_hour

The variables are read at the edge (the CLI passes ``os.environ``) into a :class:`Settings` of
SecretStr fields; a variable that is missing or empty is a one-line :class:`ConfigError` naming
the variable, never its value.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from session_audit.errors import ConfigError
from session_audit.settings import Settings

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
ENV_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"


class Tenant(BaseModel):
    """One ``[[tenant]]`` entry."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=NAME_PATTERN)
    base_url: str
    username: str | None = None
    username_env: str | None = Field(None, pattern=ENV_PATTERN)
    password_env: str = Field(pattern=ENV_PATTERN)
    cid: str | None = None
    cid_env: str | None = Field(None, pattern=ENV_PATTERN)
    secret_env: str | None = Field(None, pattern=ENV_PATTERN)
    app_id: str | None = None
    app_version: str | None = None
    device_id: str | None = None
    start_id: int | None = Field(None, ge=1)
    requests_per_hour: int | None = Field(None, gt=0)

    @model_validator(mode="after")
    def _one_of_each(self) -> Tenant:
        if (self.username is None) == (self.username_env is None):
            raise ValueError("give exactly one of username, username_env")
        if self.cid is not None and self.cid_env is not None:
            raise ValueError("give at most one of cid, cid_env")
        return self


def load_tenants(path: Path) -> list[Tenant]:
    """The tenants of a TOML file, validated; names are unique."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"tenants file {path} does not exist") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read tenants file {path}: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"tenants file {path} is not valid TOML: {exc}") from exc
    unknown = sorted(set(data) - {"tenant"})
    if unknown:
        raise ConfigError(f"tenants file {path}: unknown table(s) {', '.join(unknown)}")
    entries = data.get("tenant")
    if not isinstance(entries, list) or not entries:
        raise ConfigError(f"tenants file {path} has no [[tenant]] entries")
    tenants: list[Tenant] = []
    for number, entry in enumerate(entries, 1):
        tenants.append(_tenant(path, number, entry))
    names = [t.name for t in tenants]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ConfigError(f"tenants file {path}: tenant name(s) repeated: {', '.join(repeated)}")
    return tenants


def _tenant(path: Path, number: int, entry: Any) -> Tenant:
    if isinstance(entry, dict):
        secrets = sorted({"password", "secret", "sec"} & set(entry))
        if secrets:
            raise ConfigError(
                f"tenants file {path}, tenant {number}: {', '.join(secrets)} must not be written "
                "in the file; name the environment variable with password_env / secret_env"
            )
    try:
        return Tenant.model_validate(entry)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'entry'}: {err['msg']}"
            for err in exc.errors()
        )
        raise ConfigError(f"tenants file {path}, tenant {number}: {problems}") from exc


def tenant_settings(base: Settings, tenant: Tenant, env: Mapping[str, str]) -> Settings:
    """``base`` with the tenant's org, URL and credentials (secrets read from ``env``)."""

    def need(var: str) -> str:
        value = env.get(var, "")
        if not value:
            raise ConfigError(
                f"tenant {tenant.name}: environment variable {var} is not set (or empty)"
            )
        return value

    # Credentials never fall back to the base settings (another account's).
    changes: dict[str, Any] = {
        "org": tenant.name,
        "base_url": tenant.base_url,
        "username": tenant.username,
        "password": need(tenant.password_env),
        "cid": tenant.cid or "",
        "secret": "",
        "app_id": tenant.app_id,
        "app_version": tenant.app_version,
        "device_id": tenant.device_id,
        "requests_per_hour": tenant.requests_per_hour,
    }
    if tenant.username_env is not None:
        changes["username"] = need(tenant.username_env)
    if tenant.cid_env is not None:
        changes["cid"] = need(tenant.cid_env)
    if tenant.secret_env is not None:
        changes["secret"] = need(tenant.secret_env)
    return base.with_overrides(**changes)


def all_tenant_settings(
    base: Settings, tenants: list[Tenant], env: Mapping[str, str]
) -> list[tuple[Tenant, Settings]]:
    """Settings for every tenant, checked before any run starts (a missing variable of the
    last tenant fails at once, not after the first tenants ran)."""
    return [(tenant, tenant_settings(base, tenant, env)) for tenant in tenants]
