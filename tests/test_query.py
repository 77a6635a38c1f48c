"""`session-audit query`: read-only SQL as table, CSV or JSON; errors in one line."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import duckdb
import orjson
import pytest

from session_audit.analysis.query import run_query
from session_audit.cli import run_app
from session_audit.db.connection import connect
from session_audit.errors import ConfigError
from test_views_data import sample_db


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("q") / "s.duckdb"
    sample_db(path).close()
    return path


def test_run_query_returns_columns_types_and_rows(db: Path) -> None:
    result = run_query(db, "SELECT user_id, count(*) AS n FROM login_history GROUP BY 1 ORDER BY 1")
    assert result.columns == ("user_id", "n")
    assert result.types[0] == "BIGINT"
    assert result.rows == [(1, 40), (2, 42), (3, 40), (4, 1)]


def test_only_reading_statements_run_on_a_read_only_connection(db: Path) -> None:
    with pytest.raises(ConfigError, match="DELETE statements are not allowed"):
        run_query(db, "DELETE FROM users")
    with pytest.raises(ConfigError, match="CREATE statements are not allowed"):
        run_query(db, "SELECT 1; CREATE TABLE t AS SELECT 1")
    assert run_query(db, "SELECT count(*) FROM users").rows == [(4,)]
    conn = connect(db, read_only=True, sandbox=True)
    try:
        with pytest.raises(duckdb.Error, match="read-only"):
            execute_unchecked(conn, "DELETE FROM users")
    finally:
        conn.close()


def execute_unchecked(conn: duckdb.DuckDBPyConnection, sql: str) -> None:
    conn.execute(sql)


def test_cli_table_csv_and_json(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sql = (
        "SELECT session_id, ip_address, end_time - start_time AS duration FROM login_history"
        " WHERE session_id IN (900, 901, 902) ORDER BY 1"
    )
    assert run_app(["query", sql, "--db", str(db)]) == 0
    table = capsys.readouterr().out
    assert "session_id" in table and "2001:db8::5" in table and "3 row(s)" in table

    assert run_app(["query", sql, "--db", str(db), "--format", "csv"]) == 0
    records = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert records[0] == ["session_id", "ip_address", "duration"]
    assert records[1] == ["900", "2001:db8::5", ""]
    assert records[2] == ["901", '\'=HYPERLINK("http://x")', "0:10:00"]

    assert run_app(["query", sql, "--db", str(db), "--format", "json"]) == 0
    data = orjson.loads(capsys.readouterr().out)
    assert data[1] == {"session_id": 901, "ip_address": '=HYPERLINK("http://x")', "duration": 600.0}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["SELECT * FROM nope"], "query failed: Catalog Error"),
        (["SELEC 1"], "query failed: Parser Error"),
        (["  "], "the query is empty"),
        (["SELECT 1", "--format", "xml"], "--format 'xml'"),
    ],
)
def test_cli_errors_are_one_line_with_exit_2(
    db: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    assert run_app(["query", *args, "--db", str(db)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err and "Traceback" not in err


def test_cli_missing_database(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_app(["query", "SELECT 1", "--db", str(tmp_path / "none.duckdb")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: no database at") and err.count("\n") == 1
    assert not (tmp_path / "none.duckdb").exists()
