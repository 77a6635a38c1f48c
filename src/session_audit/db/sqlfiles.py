"""Load the SQL text kept under ``sql/`` by name.

Every SQL statement the package runs lives in a file: ``load_sql("schema/user_sessions")`` reads
``sql/schema/user_sessions.sql``. The ``sql/`` directory is found in two layouts:

* the repository (editable install): ``<repo>/sql``, i.e. ``Path(__file__).parents[3] / "sql"``;
* a wheel: hatch force-includes ``sql/`` as ``session_audit/sql`` inside the package.

Queries are grouped one file per consumer (aiosql's convention): ``sql/queries/export.sql``
holds every statement ``analysis/export.py`` runs, each a block opened by ``-- name: <name>``
and its comment lines; ``query_sql("export", "count")`` returns one block's text. Views,
schema, checks and rules stay one object per file (``load_sql``).

Reads are cached: each file is read and split once per process.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

from session_audit.errors import StorageError

_NAME = re.compile(r"^[a-z0-9_]+(/[a-z0-9_]+)*$")
_BLOCK = re.compile(r"^-- name: ([a-z0-9_]+)[ \t]*$", re.MULTILINE)


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


@cache
def named_queries(consumer: str) -> dict[str, str]:
    """Every ``-- name:`` block of ``sql/queries/<consumer>.sql``, by name, in file order.

    A block's text runs from its ``-- name:`` line (excluded) to the next one; its leading
    comment lines document it and are kept (DuckDB ignores them). A file must open with a
    header comment and hold at least one block; names are unique within a file.
    """
    text = load_sql(f"queries/{consumer}")
    marks = list(_BLOCK.finditer(text))
    if not marks:
        raise StorageError(f"sql/queries/{consumer}.sql holds no '-- name: ...' block")
    blocks: dict[str, str] = {}
    for mark, following in zip(marks, [*marks[1:], None], strict=True):
        end = following.start() if following is not None else len(text)
        name = mark.group(1)
        if name in blocks:
            raise StorageError(f"sql/queries/{consumer}.sql names {name!r} twice")
        body = text[mark.end() : end].strip()
        if not _statement(body):
            raise StorageError(f"sql/queries/{consumer}.sql: block {name!r} has no statement")
        blocks[name] = body + "\n"
    return blocks


def query_sql(consumer: str, name: str) -> str:
    """One named statement: ``query_sql("export", "count")`` (see ``named_queries``)."""
    blocks = named_queries(consumer)
    try:
        return blocks[name]
    except KeyError:
        raise StorageError(f"sql/queries/{consumer}.sql has no query named {name!r}") from None


def _statement(body: str) -> bool:
    return any(line.strip() and not line.lstrip().startswith("--") for line in body.splitlines())
