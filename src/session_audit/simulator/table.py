"""Columnar store of the simulated sessions: compact arrays, indexed by id, served as JSON dicts.

Two million sessions as dicts would take gigabytes; as arrays they take about 100 MB, and one row
is built only when a request asks for it, field by field in the order of the field table
(:data:`session_audit.session_row.SESSION_ROW`): the fields the simulator models come from its
arrays, any other field of the table is served with the table's ``example`` value. Ids are sparse
(the platform's global sequence) and ascending, so finding a row is one bisect per id. Rows of
``hidden_users`` stay in the table (they count for ``userSessionStats``) but ``lookup`` leaves them
out, as the API does.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left
from collections.abc import Callable, Iterable
from typing import Any

from session_audit.session_row import SESSION_ROW, SessionRow
from session_audit.simulator.timefmt import iso_ms

DROP: Any = object()  # an override value meaning "this field is absent from the row"

OPEN = -1  # ends[i] of a session still open
NEVER = -1  # planned[i] of an open session that nobody will close on schedule

# One app a session was opened with: (clientAppId, appId, appVersion); None = field absent.
App = tuple[int | None, str | None, str | None]


class SessionTable:
    """Sessions in ascending id order (ids follow start time, with gaps)."""

    def __init__(self, ips: list[str], apps: list[App], row: SessionRow = SESSION_ROW) -> None:
        self.ips = ips  # shared with the population: new IPs are appended there
        self.apps = apps
        self._app_rows = {app: n for n, app in enumerate(apps)}
        self.hidden_users: frozenset[int] = frozenset()  # the API leaves their sessions out
        self.ids = array("q")
        self.user_ids = array("q")
        self.starts = array("q")  # epoch ms
        self.ends = array("q")  # epoch ms, or OPEN
        self.planned = array("q")  # when an open session will close (epoch ms), or NEVER
        self.ip_index = array("l")
        self.app_index = array("l")
        self.end_null = bytearray()  # open rows: 1 = "endTime": null, 0 = no endTime key
        self.overrides: dict[int, dict[str, Any]] = {}  # malformed rows: field -> value | DROP
        self.open_rows: set[int] = set()
        self._row = row
        self._fields: tuple[tuple[str, Callable[[int], Any]], ...] = ()
        self.rebind()

    def rebind(self) -> None:
        """Bind the serialisation to the current column arrays: call it after replacing any of
        them (``as_dict`` reads the arrays it was bound to, for speed)."""
        modelled = self._modelled()
        self._fields = tuple(
            (f.api, modelled.get(f.api, _constant(f.example)))
            for f in self._row.api_fields
            if f.api is not None
        )

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def max_id(self) -> int | None:
        """The highest id of any session, visible or not."""
        return self.ids[-1] if self.ids else None

    def visible(self, row: int) -> bool:
        """Whether the API serves this row (its user is not hidden)."""
        return self.user_ids[row] not in self.hidden_users

    def visible_rows(self) -> list[int]:
        hidden = self.hidden_users
        if not hidden:
            return list(range(len(self.ids)))
        return [row for row, user in enumerate(self.user_ids) if user not in hidden]

    @property
    def max_visible_id(self) -> int | None:
        """The highest id the API serves."""
        for row in range(len(self.ids) - 1, -1, -1):
            if self.visible(row):
                return self.ids[row]
        return None

    def app_row(self, app: App) -> int:
        """The index of ``app`` in ``apps`` (added if new)."""
        row = self._app_rows.get(app)
        if row is None:
            row = self._app_rows[app] = len(self.apps)
            self.apps.append(app)
        return row

    def append(
        self,
        session_id: int,
        user_id: int,
        start: int,
        end: int,
        planned: int,
        ip: int,
        app: int,
        end_null: bool,
    ) -> None:
        row = len(self.ids)
        self.ids.append(session_id)
        self.user_ids.append(user_id)
        self.starts.append(start)
        self.ends.append(end)
        self.planned.append(planned)
        self.ip_index.append(ip)
        self.app_index.append(app)
        self.end_null.append(1 if end_null else 0)
        if end == OPEN:
            self.open_rows.add(row)

    def close(self, row: int, end: int) -> None:
        self.ends[row] = end
        self.planned[row] = NEVER
        self.open_rows.discard(row)

    def row_of(self, session_id: int) -> int | None:
        ids = self.ids
        pos = bisect_left(ids, session_id)
        if pos < len(ids) and ids[pos] == session_id:
            return pos
        return None

    def _modelled(self) -> dict[str, Callable[[int], Any]]:
        """API field -> its value in row ``row`` (DROP: absent), for the fields modelled here."""
        ids, users, starts, ends, end_null = (
            self.ids,
            self.user_ids,
            self.starts,
            self.ends,
            self.end_null,
        )
        apps, app_index, ips, ip_index = self.apps, self.app_index, self.ips, self.ip_index

        def end_time(row: int) -> Any:
            end = ends[row]
            if end != OPEN:
                return iso_ms(end)
            return None if end_null[row] else DROP

        def app_part(part: int) -> Callable[[int], Any]:
            def value(row: int) -> Any:
                found = apps[app_index[row]][part]
                return DROP if found is None else found

            return value

        return {
            "id": ids.__getitem__,
            "userId": users.__getitem__,
            "startTime": lambda row: iso_ms(starts[row]),
            "endTime": end_time,
            "clientAppId": app_part(0),
            "ipAddress": lambda row: ips[ip_index[row]],
            "appId": app_part(1),
            "appVersion": app_part(2),
        }

    def as_dict(self, row: int) -> dict[str, Any]:
        """The session exactly as the API serves it (the field table's order)."""
        item: dict[str, Any] = {}
        for name, value in self._fields:
            found = value(row)
            if found is not DROP:
                item[name] = found
        override = self.overrides.get(row)
        if override:
            for key, value in override.items():
                if value is DROP:
                    item.pop(key, None)
                else:
                    item[key] = value
        return item

    def lookup(self, session_ids: Iterable[int]) -> list[dict[str, Any]]:
        """Known visible ids in request order, each once; unknown or hidden ids are left out."""
        seen: set[int] = set()
        found: list[dict[str, Any]] = []
        hidden = self.hidden_users
        for session_id in session_ids:
            if session_id in seen:
                continue
            seen.add(session_id)
            row = self.row_of(session_id)
            if row is not None and (not hidden or self.user_ids[row] not in hidden):
                found.append(self.as_dict(row))
        return found

    def last_start_by_user(self, until_ms: int) -> dict[int, int]:
        """Latest session start per user id (the ``lastSessionTime`` of userSessionStats)."""
        latest: dict[int, int] = {}
        get = latest.get
        for user_id, start in zip(self.user_ids, self.starts, strict=True):
            if start <= until_ms and start > get(user_id, -1):
                latest[user_id] = start
        return latest


def _constant(value: Any) -> Callable[[int], Any]:
    """The value of a field the simulator does not model: the same in every row."""
    return lambda row: value
