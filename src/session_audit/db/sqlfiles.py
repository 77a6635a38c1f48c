"""Load the SQL text kept under ``sql/`` by name.

Every SQL statement the package runs lives in a file: ``load_sql("schema/user_sessions")`` reads
``sql/schema/user_sessions.sql``. The ``sql/`` directory is found in two layouts:

* the repository (editable install): ``<repo>/sql``, i.e. ``Path(__file__).parents[3] / "sql"``;
* a wheel: hatch force-includes ``sql/`` as ``session_audit/sql`` inside the package.

Reads are cached: each file is read once per process.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

from session_audit.errors import StorageError

_NAME = re.compile(r"^[a-z0-9_]+(/[a-z0-9_]+)*$")


def _candidates() -> tuple[Path, ...]:
    here = Path(__file__).resolve()
    return (
        here.parents[1] / "sql",  # wheel: session_audit/sql
        here.parents[3] / "sql",  # repository: <repo>/sql next to src/
    )


@cache
def sql_dir() -> Path:
    """The directory holding ``schema/``, ``queries/``, ``views/`` and ``checks/``."""
    for candidate in _candidates():
        if candidate.is_dir():
            return candidate
    tried = ", ".join(str(c) for c in _candidates())
    raise StorageError(f"the sql/ directory of session-audit is missing (looked in {tried})")


@cache
def load_sql(name: str) -> str:
    """The text of ``sql/<name>.sql``, e.g. ``load_sql("queries/merge_sessions")``."""
    if not _NAME.match(name):
        raise StorageError(f"bad SQL file name {name!r}: use 'folder/name' without '.sql'")
    path = sql_dir() / f"{name}.sql"
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise StorageError(f"unknown SQL file {name!r} (no {path})") from exc


def sql_names(folder: str) -> list[str]:
    """Names (``folder/stem``) of every SQL file in ``folder``, sorted."""
    return sorted(f"{folder}/{p.stem}" for p in (sql_dir() / folder).glob("*.sql"))
