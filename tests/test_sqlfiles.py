"""The named-query files (``sql/queries/<consumer>.sql``, ``-- name:`` blocks) and their loader.

Every consumer file must split into named statements, and every ``query_sql(consumer, name)``
call in the package must name a block that exists: a typo fails here, not in a user's run.
"""

from __future__ import annotations

import ast
from pathlib import Path

import duckdb
import pytest

from session_audit.db import sqlfiles
from session_audit.db.sqlfiles import named_queries, query_sql, sql_dir
from session_audit.errors import StorageError

SRC = Path(sqlfiles.__file__).resolve().parents[1]


def _calls() -> list[tuple[str, str, str]]:
    """(file, consumer, name) of every literal query_sql("consumer", "name") call in src."""
    found = []
    for path in sorted(SRC.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id == "query_sql"
                and len(node.args) == 2
                and all(isinstance(a, ast.Constant) for a in node.args)
            ):
                consumer, name = (a.value for a in node.args)  # type: ignore[attr-defined]
                found.append((path.name, str(consumer), str(name)))
    return found


def test_every_literal_query_sql_call_names_an_existing_block() -> None:
    calls = _calls()
    assert len(calls) >= 40  # the scan sees the package's calls
    for where, consumer, name in calls:
        assert name in named_queries(consumer), f"{where}: {consumer}/{name}"


@pytest.mark.parametrize(
    "consumer",
    sorted(
        p.stem
        for p in (sql_dir() / "queries").glob("*.sql")
        if "-- name:" in p.read_text(encoding="utf-8")
    ),
)
def test_every_named_query_file_opens_with_a_header_and_documents_each_block(
    consumer: str,
) -> None:
    text = (sql_dir() / "queries" / f"{consumer}.sql").read_text(encoding="utf-8")
    assert text.startswith(f"-- {consumer}: "), "the file header names its consumer"
    for name, body in named_queries(consumer).items():
        assert body.startswith("-- "), f"{consumer}/{name} has no comment saying what it does"


def test_blocks_split_on_name_lines_and_keep_their_comments(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "queries").mkdir()
    (tmp_path / "queries" / "demo.sql").write_text(
        "-- demo: two queries\n\n-- name: one\n-- the first\nSELECT 1 AS x\n\n"
        "-- name: two\n-- the second\nSELECT $v AS y\n",
        encoding="utf-8",
    )
    monkeypatch.setattr(sqlfiles, "sql_dir", lambda: tmp_path)
    sqlfiles.load_sql.cache_clear()
    sqlfiles.named_queries.cache_clear()
    try:
        blocks = named_queries("demo")
        assert list(blocks) == ["one", "two"]
        assert blocks["one"] == "-- the first\nSELECT 1 AS x\n"
        conn = duckdb.connect()
        assert conn.execute(query_sql("demo", "two"), {"v": 7}).fetchone() == (7,)
        with pytest.raises(StorageError, match="has no query named 'three'"):
            query_sql("demo", "three")
    finally:
        sqlfiles.load_sql.cache_clear()
        sqlfiles.named_queries.cache_clear()


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("-- bad: none\nSELECT 1\n", "holds no '-- name: ...' block"),
        ("-- bad: twice\n-- name: a\nSELECT 1\n-- name: a\nSELECT 2\n", "names 'a' twice"),
        ("-- bad: empty\n-- name: a\n-- only a comment\n", "block 'a' has no statement"),
    ],
)
def test_malformed_query_files_are_one_line_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str, error: str
) -> None:
    (tmp_path / "queries").mkdir()
    (tmp_path / "queries" / "bad.sql").write_text(text, encoding="utf-8")
    monkeypatch.setattr(sqlfiles, "sql_dir", lambda: tmp_path)
    sqlfiles.load_sql.cache_clear()
    sqlfiles.named_queries.cache_clear()
    try:
        with pytest.raises(StorageError, match=error):
            named_queries("bad")
    finally:
        sqlfiles.load_sql.cache_clear()
        sqlfiles.named_queries.cache_clear()
