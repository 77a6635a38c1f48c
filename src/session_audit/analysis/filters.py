"""Export filters (--since, --until, --user, --org) and their parsing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from session_audit.errors import ConfigError


@dataclass(frozen=True)
class ExportFilters:
    """Row filters of an export; None means "no filter". since is inclusive, until exclusive."""

    since: datetime | None = None
    until: datetime | None = None
    user_id: int | None = None
    org: str | None = None

    def __post_init__(self) -> None:
        if self.since is not None and self.until is not None and self.since >= self.until:
            raise ConfigError(
                f"--since {self.since.isoformat()} is not before --until {self.until.isoformat()}"
            )

    def as_json(self) -> dict[str, Any]:
        """The filters as recorded in the manifest."""
        return {
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat() if self.until else None,
            "user_id": self.user_id,
            "org": self.org,
        }


def parse_when(text: str | None, flag: str) -> datetime | None:
    """``YYYY-MM-DD`` or an ISO date-time; a value without zone is UTC. ConfigError if bad."""
    if text is None:
        return None
    value = text.strip()
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            return datetime(day.year, day.month, day.day, tzinfo=UTC)
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ConfigError(f"{flag} {text!r} is not a date (YYYY-MM-DD) or ISO date-time") from exc
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
