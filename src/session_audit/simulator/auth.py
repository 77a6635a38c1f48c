"""Login, tokens and user sessions as the real API handles them.

- Bad credentials: HTTP 200 with ``errorText``.
- Throttling: HTTP 200 with ``p-ticket``, ``p-time`` (seconds to wait) and ``p-captcha``. The
  caller must wait, then resend the same body plus ``"p-ticket"``; a wrong or missing ticket, a
  changed body or a resend before the wait is over gets another p-ticket.
- Each login opens a user session; a user has at most 2 at once, a third login revokes the
  oldest. Renewal issues a fresh token for the same session. Expired or unknown tokens: 401.
- ``on_revoke(number)`` is told when a user session ends (revoked by a later login, or found
  dead because all its tokens expired); the simulator closes the matching session row.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from session_audit.simulator.config import Credentials
from session_audit.simulator.timefmt import iso_seconds

MAX_USER_SESSIONS = 2
BAD_CREDENTIALS = (
    "Incorrect username or password. Please try again, noting that passwords are case-sensitive."
)
BAD_APP_KEY = "The app key (cid/sec) is not valid."


@dataclass
class _Ticket:
    ticket: str
    ready_at: float
    body: dict[str, Any]


@dataclass
class _UserSession:
    number: int
    user_id: int
    tokens: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class TokenInfo:
    user_id: int
    session: int
    expires_at: float


class AuthState:
    """Tokens, user sessions and login throttling of the simulated API."""

    def __init__(
        self,
        credentials: Credentials,
        *,
        account: dict[str, Any],
        token_ttl: float,
        p_ticket_logins: int,
        p_time: int,
        captcha: bool,
        clock: Callable[[], float],
        on_revoke: Callable[[int], None] | None = None,
    ) -> None:
        self.credentials = credentials
        self.on_revoke = on_revoke
        self.account = account  # the user that logs in (id, name, email)
        self.token_ttl = token_ttl
        self.p_time = p_time
        self.captcha = captcha
        self.clock = clock
        self._throttled_left = p_ticket_logins
        self._ticket: _Ticket | None = None
        self._tokens: dict[str, TokenInfo] = {}
        self._sessions: list[_UserSession] = []  # oldest first
        self._session_numbers = 0

    # -- login --------------------------------------------------------------------------------
    def login(self, body: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        """Answer one ``accesstokenrequest``: (JSON answer, True if a token was issued)."""
        now = self.clock()
        ticket = body.get("p-ticket")
        plain = {k: v for k, v in body.items() if k != "p-ticket"}
        pending = self._ticket
        ticket_ok = (
            pending is not None
            and ticket == pending.ticket
            and now >= pending.ready_at
            and plain == pending.body
        )
        if self.captcha or self._throttled_left > 0 or (pending is not None and not ticket_ok):
            self._throttled_left = max(0, self._throttled_left - 1)
            return self._throttle(plain, now), False
        self._ticket = None
        creds = self.credentials
        if body.get("name") != creds.username or body.get("password") != creds.password:
            return {"errorText": BAD_CREDENTIALS}, False
        if str(body.get("cid", "")) != creds.cid or body.get("sec") != creds.sec:
            return {"errorText": BAD_APP_KEY}, False
        return self._open_session(now), True

    def _throttle(self, plain: dict[str, Any], now: float) -> dict[str, Any]:
        ticket = secrets.token_urlsafe(16)
        self._ticket = _Ticket(ticket, now + self.p_time, plain)
        return {"p-ticket": ticket, "p-time": self.p_time, "p-captcha": self.captcha}

    def _open_session(self, now: float) -> dict[str, Any]:
        self._drop_dead_sessions(now)
        user_id = int(self.account["id"])
        mine = [s for s in self._sessions if s.user_id == user_id]
        while len(mine) >= MAX_USER_SESSIONS:
            oldest = mine.pop(0)
            self._revoke(oldest)
        self._session_numbers += 1
        session = _UserSession(self._session_numbers, user_id)
        self._sessions.append(session)
        return self._issue(session, now)

    def _issue(self, session: _UserSession, now: float) -> dict[str, Any]:
        token = secrets.token_urlsafe(32)
        expires_at = now + self.token_ttl
        self._tokens[token] = TokenInfo(session.user_id, session.number, expires_at)
        session.tokens.add(token)
        expiration = iso_seconds(expires_at)
        return {
            "accessToken": token,
            "mdAccessToken": secrets.token_urlsafe(32),
            "expirationTime": expiration,
            "passwordExpirationTime": iso_seconds(now + 180 * 86_400),
            "userStatus": "Active",
            "userId": session.user_id,
            "name": self.account["name"],
            "hasLive": False,
        }

    def _revoke(self, session: _UserSession) -> None:
        for token in session.tokens:
            self._tokens.pop(token, None)
        self._sessions.remove(session)
        if self.on_revoke is not None:
            self.on_revoke(session.number)

    def _drop_dead_sessions(self, now: float) -> None:
        for session in list(self._sessions):
            live = {t for t in session.tokens if self._live(t, now)}
            if not live:
                self._revoke(session)

    def _live(self, token: str, now: float) -> bool:
        info = self._tokens.get(token)
        return info is not None and now < info.expires_at

    # -- tokens -------------------------------------------------------------------------------
    def check(self, token: str | None) -> TokenInfo | None:
        """The live token's info, or None (missing, unknown, revoked or expired: 401)."""
        if not token:
            return None
        info = self._tokens.get(token)
        if info is None or self.clock() >= info.expires_at:
            return None
        return info

    def renew(self, token: str | None) -> dict[str, Any] | None:
        info = self.check(token)
        if info is None:
            return None
        session = next(s for s in self._sessions if s.number == info.session)
        return self._issue(session, self.clock())

    def expire(self, token: str) -> None:
        info = self._tokens.get(token)
        if info is not None:
            self._tokens[token] = TokenInfo(info.user_id, info.session, float("-inf"))

    def expire_all(self) -> None:
        for token in list(self._tokens):
            self.expire(token)

    def live_sessions(self) -> int:
        self._drop_dead_sessions(self.clock())
        return len(self._sessions)

    def me(self) -> dict[str, Any]:
        return {
            "userId": self.account["id"],
            "name": self.account["name"],
            "fullName": str(self.account["name"]).title(),
            "email": self.account["email"],
            "emailVerified": True,
            "isTrial": False,
        }
