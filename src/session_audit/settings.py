"""Settings, read once at the edge (CLI or flow entry) into a frozen object passed down.

Every field reads from the environment with the prefix ``SESSION_AUDIT_`` (and from a ``.env``
file in the working directory); CLI flags override both. Library code never reads ``os.environ``:
it receives a :class:`Settings`.

Defaults suit the real Tradovate API (about 5,000 requests per trailing hour per user); the demo,
tests and benchmarks set what the simulator allows. Numbers must be finite (``inf``/``nan``
are refused) and within sane bounds; a bad value is one :class:`ConfigError` line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from session_audit.errors import ConfigError

DEMO_BASE_URL = "https://demo.tradovateapi.com/v1"
LIVE_BASE_URL = "https://live.tradovateapi.com/v1"
# Upper bounds: above these a number is a typo, and some (huge sleeps) would crash a run.
_UPPER_BOUNDS: dict[str, float] = {
    "lock_timeout": 7 * 86_400,
    "requests_per_hour": 10**8,
    "requests_per_second": 10**7,
    "checkpoint_ids": 10**7,
    "checkpoint_rows": 10**7,
    "checkpoint_seconds": 3_600,
    "gap_tolerance": 10**7,
    "backoff_base": 3_600,
    "backoff_cap": 86_400,
    "timeout": 3_600,
    "renew_margin": 86_400,
}


class Settings(BaseSettings):
    """Everything a run needs. Frozen: derive a changed copy with :meth:`with_overrides`."""

    model_config = SettingsConfigDict(
        env_prefix="SESSION_AUDIT_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        frozen=True,
        allow_inf_nan=False,
    )

    # --- API and credentials -------------------------------------------------------------
    base_url: str = Field(
        DEMO_BASE_URL, description="API root, e.g. https://live.tradovateapi.com/v1"
    )
    username: str = Field("", description="Tradovate user name (sent as `name`)")
    password: SecretStr = Field(SecretStr(""), description="Tradovate password")
    app_id: str = Field("session-audit", description="appId sent at login")
    app_version: str = Field("0.1.0", description="appVersion sent at login")
    cid: str = Field("", description="API key client id (cid)")
    secret: SecretStr = Field(SecretStr(""), description="API key secret (sent as `sec`)")
    device_id: str = Field("session-audit", description="deviceId sent at login")
    org: str = Field("default", description="organisation label stored with every row")
    tenants: Path | None = Field(
        None, description="TOML file of tenants: `session-audit ingest` runs one ingest each"
    )

    # --- storage -------------------------------------------------------------------------
    db: Path = Field(Path("data/sessions.duckdb"), description="DuckDB file")
    lock_timeout: float = Field(0.0, ge=0, description="seconds to wait for another writer")

    # --- request budget and fan-out ------------------------------------------------------
    requests_per_hour: int = Field(4000, gt=0, description="client-side budget, trailing hour")
    requests_per_second: float = Field(5.0, gt=0, description="client-side per-second cap")
    concurrency: int = Field(4, ge=1, le=256, description="requests in flight at once")
    batch_size: int = Field(100, ge=1, le=10_000, description="ids per userSession/items call")
    batch_discovery: bool = Field(
        True,
        description="find the largest ids per call the API accepts (from batch_size up to "
        "1,000) once per API root and remember it; false: always use batch_size",
    )
    checkpoint_ids: int = Field(
        5000,
        ge=1,
        description="ids per fetched window (fetched and normalized as one piece; consecutive "
        "windows are stored together, see checkpoint_rows and checkpoint_seconds)",
    )
    checkpoint_rows: int = Field(
        50_000,
        ge=1,
        description="store the windows fetched so far, in ONE transaction with the cursor, once "
        "they hold this many rows (sessions and rejected objects)",
    )
    checkpoint_seconds: float = Field(
        10.0,
        ge=0,
        description="or once this many seconds have passed since the last commit (0: every "
        "window is stored as it arrives); a kill -9 loses at most this much fetching",
    )
    gap_tolerance: int = Field(
        2000,
        ge=1,
        description="safety net: empty batches (of batch_size ids) past the newest session that "
        "end a scan which has not found its own login session, as incomplete",
    )
    scan_tail: int = Field(1000, ge=0, description="ids scanned past this run's own login session")
    end_margin: float = Field(
        5.0,
        ge=0,
        le=3600,
        description="seconds before the login's Date header that its own session may start",
    )
    max_attempts: int = Field(6, ge=1, le=50, description="attempts per request before failing")
    backoff_base: float = Field(1.0, gt=0, description="first backoff delay in seconds")
    backoff_cap: float = Field(300.0, gt=0, description="longest backoff delay in seconds")
    timeout: float = Field(30.0, gt=0, description="HTTP timeout in seconds")
    renew_margin: float = Field(600.0, ge=0, description="renew the token this long before expiry")

    # --- schedules (session-audit serve) -------------------------------------------------
    ingest_cron: str = Field("*/30 * * * *", description="cron of the ingest_sessions deployment")
    daily_audit_cron: str = Field("15 2 * * *", description="cron of the daily_audit deployment")
    export_dir: Path = Field(Path("data/exports"), description="where daily_audit writes exports")
    prefect_port: int = Field(
        4200,
        ge=1,
        le=65535,
        description="port of the local Prefect server (API and UI) that `serve` starts on "
        "127.0.0.1 when PREFECT_API_URL is not set",
    )

    # --- analysis ------------------------------------------------------------------------
    open_session_hours: float = Field(
        24.0,
        gt=0,
        le=24 * 366,
        description="hours a session the API still reports open is assumed to run at most",
    )

    # --- findings (detection rules, sql/rules) and GeoIP enrichment ---------------------------
    geoip_city_db: Path | None = Field(
        None, description="MMDB file of a City database (GeoLite2/GeoIP2 City, DB-IP lite)"
    )
    geoip_asn_db: Path | None = Field(
        None, description="MMDB file of an ASN database (GeoLite2 ASN, DB-IP ASN lite)"
    )
    hosting_asns: Path | None = Field(
        None, description="CSV (asn,name,kind) of more datacenter/hosting/VPN networks"
    )
    allowlist: str = Field(
        "", description="known office networks (CIDRs, comma-separated): shared IPs there are info"
    )
    alert_block: str | None = Field(
        None, description="Prefect notification or webhook block (type/name) for new findings"
    )
    findings_travel_speed_kmh: float = Field(
        900.0, gt=0, le=1_000_000, description="impossible travel above this speed (km/h)"
    )
    findings_learning_days: float = Field(
        14.0, ge=0, le=3650, description="history a user (or the org) needs before 'new' counts"
    )
    findings_dormant_days: float = Field(
        60.0, gt=0, le=3650, description="days without a session that make an account dormant"
    )
    findings_burst_ips: int = Field(
        4, ge=2, le=10_000, description="new IPs of one user that make a burst"
    )
    findings_burst_minutes: float = Field(
        60.0, gt=0, le=525_600, description="at most this long between the new IPs of a burst"
    )
    findings_new_app_days: float = Field(
        7.0, gt=0, le=3650, description="an app/version first seen this recently is brand-new"
    )
    findings_failed_password_jump: int = Field(
        3, ge=1, le=1_000_000, description="failed-password increase between two observations"
    )
    findings_after_ingest_max: int = Field(
        100_000,
        ge=0,
        le=1_000_000_000,
        description="an ingest that stored at most this many new sessions evaluates the rules "
        "itself; a larger backfill leaves it to `session-audit findings evaluate`",
    )

    @field_validator("base_url")
    @classmethod
    def _check_base_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @field_validator("allowlist")
    @classmethod
    def _check_allowlist(cls, value: str) -> str:
        import ipaddress

        for part in allowlist_networks_text(value):
            try:
                ipaddress.ip_network(part, strict=False)
            except ValueError as exc:
                raise ValueError(f"{part!r} is not an IP network (CIDR)") from exc
        return value

    @field_validator(*_UPPER_BOUNDS)
    @classmethod
    def _check_upper_bound(cls, value: float, info: ValidationInfo) -> float:
        limit = _UPPER_BOUNDS[str(info.field_name)]
        if value > limit:
            raise ValueError(f"must be at most {limit:,}")
        return value

    def with_overrides(self, **changes: Any) -> Settings:
        """A validated copy with the non-None ``changes`` applied (CLI flags)."""
        data = self.model_dump()
        data.update({k: v for k, v in changes.items() if v is not None})
        return _validated(lambda: Settings.model_validate(data))

    def redacted(self) -> dict[str, Any]:
        """The settings as a dict safe to log or store: secrets are masked."""
        data = self.model_dump(mode="json")
        for key in ("password", "secret"):
            data[key] = "**********" if data.get(key) else ""
        return data


def allowlist_networks_text(value: str) -> list[str]:
    """The CIDRs of the ``allowlist`` setting: comma- or whitespace-separated, blanks dropped."""
    return [part for part in value.replace(",", " ").split() if part]


def load_settings(**overrides: Any) -> Settings:
    """Read env and ``.env`` once, then apply CLI overrides (None means "not given")."""
    given = {k: v for k, v in overrides.items() if v is not None}
    return _validated(lambda: Settings(**given))


def _validated(build: Any) -> Settings:
    try:
        settings: Settings = build()
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'settings'}: {err['msg']}"
            for err in exc.errors()
        )
        raise ConfigError(f"invalid settings: {problems}") from exc
    return settings
