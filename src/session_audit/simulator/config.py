"""Configuration of the simulator: data size and shape, faults, limits, accepted credentials."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from session_audit.errors import ConfigError


@dataclass(frozen=True)
class Credentials:
    """What ``POST /auth/accesstokenrequest`` accepts (``name``, ``password``, ``cid``, ``sec``)."""

    username: str = "demo"
    password: str = "demo-password"  # noqa: S105  (the simulator's well-known demo password)
    cid: str = "8"
    sec: str = "demo-secret"


@dataclass(frozen=True)
class SimulatorConfig:
    """Everything that shapes one simulator.

    Data: ``users`` accounts and ``sessions`` login sessions spread over ``span_days`` days that
    end at ``now`` (None: the clock's time at construction, floored to the minute). On top of
    them the API user (the account that logs in, ``users[0]``) has the sessions of this tool's
    earlier scheduled runs, one every ~6 hours across the span. The same ``seed`` and ``now``
    always give the same data.

    Id space: session ids are one sequence shared by every firm on the platform. ``foreign_share``
    (0 <= share < 1) of it belongs to other firms and is invisible: after each of our sessions the
    sequence skips a geometric number of foreign ids with mean share / (1 - share). Each time our
    sessions cross a Saturday 00:00 UTC boundary it skips ``quiet_ids`` more (other firms' weekend
    traffic; 0 disables). ``foreign_share=0.0`` means no other firm: dense ids with rare small
    gaps and no quiet stretches (``quiet_ids`` is then ignored), as benchmarks want.

    Visibility: ``hide_own_sessions`` leaves every session of the API user out of
    ``userSession/items``; ``withheld_users`` leaves those users' sessions out while
    ``userSessionStats`` still reports their true ``lastSessionTime``.

    Faults: ``fault_rate`` is the fraction of data requests answered with a random fault (500 with
    a plain-text body, 429 with or without Retry-After, or a slow answer of ``slow_seconds``).
    ``max_ids`` caps the ids of one ``userSession/items`` call (404 above; None = unlimited).
    ``max_url_length`` caps the request target (path + query, in bytes) of every request (414
    with a plain-text body above; None = unlimited).

    Findings: ``plant_findings`` adds known users whose sessions show each pattern of the
    detection rules (:mod:`session_audit.simulator.planted`; ``Simulator.planted`` says which).

    Auth: tokens live ``token_ttl`` seconds. The first ``p_ticket_logins`` login requests are
    throttled with a p-ticket and a wait of ``p_time`` seconds; ``captcha`` answers every login
    with ``p-captcha: true``. ``rate_limit_per_hour`` (None = not enforced) locks a user out for
    ``lockout_seconds`` with a 429 once exceeded in a trailing hour; every request during the
    lockout extends it. ``rate_limit_per_second`` (None = not enforced) answers data and renewal
    requests above that many in a trailing second with 429 and ``Retry-After: 1``.
    """

    users: int = 2000
    sessions: int = 50_000
    seed: int = 0
    span_days: int = 120
    now: datetime | None = None
    fault_rate: float = 0.0
    max_ids: int | None = None
    token_ttl: float = 85 * 60
    p_ticket_logins: int = 0
    p_time: int = 2
    captcha: bool = False
    rate_limit_per_hour: int | None = None
    lockout_seconds: float = 3600.0
    rate_limit_per_second: float | None = None
    slow_seconds: float = 1.5
    malformed: bool = True
    open_fraction: float = 0.025
    foreign_share: float = 0.95
    quiet_ids: int = 50_000
    hide_own_sessions: bool = False
    withheld_users: tuple[int, ...] = ()
    max_url_length: int | None = None
    plant_findings: bool = False
    credentials: Credentials = field(default_factory=Credentials)

    def __post_init__(self) -> None:
        problems: list[str] = []
        if self.users < 1:
            problems.append("users must be >= 1")
        if self.sessions < 0:
            problems.append("sessions must be >= 0")
        if self.span_days < 1:
            problems.append("span_days must be >= 1")
        if not 0.0 <= self.fault_rate <= 1.0:
            problems.append("fault_rate must be between 0 and 1")
        if self.max_ids is not None and self.max_ids < 1:
            problems.append("max_ids must be >= 1")
        if self.token_ttl <= 0:
            problems.append("token_ttl must be > 0")
        if self.p_ticket_logins < 0 or self.p_time < 0:
            problems.append("p_ticket_logins and p_time must be >= 0")
        if self.rate_limit_per_hour is not None and self.rate_limit_per_hour < 1:
            problems.append("rate_limit_per_hour must be >= 1")
        if self.rate_limit_per_second is not None and not self.rate_limit_per_second > 0:
            problems.append("rate_limit_per_second must be > 0")
        if self.lockout_seconds < 0 or self.slow_seconds < 0:
            problems.append("lockout_seconds and slow_seconds must be >= 0")
        if not 0.0 <= self.open_fraction < 1.0:
            problems.append("open_fraction must be in [0, 1)")
        if not 0.0 <= self.foreign_share < 1.0:
            problems.append("foreign_share must be in [0, 1)")
        if self.quiet_ids < 0:
            problems.append("quiet_ids must be >= 0")
        if not isinstance(self.withheld_users, tuple) or not all(
            isinstance(u, int) and not isinstance(u, bool) for u in self.withheld_users
        ):
            problems.append("withheld_users must be a tuple of user ids")
        if self.max_url_length is not None and self.max_url_length < 16:
            problems.append("max_url_length must be >= 16")
        if self.now is not None and self.now.tzinfo is None:
            problems.append("now must be timezone-aware")
        if problems:
            raise ConfigError("invalid simulator config: " + "; ".join(problems))
