"""export_dataset and `session-audit export`: files equal the data, manifest, filters, safety."""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pytest

from session_audit import __version__
from session_audit.analysis.export import export_dataset
from session_audit.analysis.filters import ExportFilters, parse_when
from session_audit.analysis.manifest import sha256_file
from session_audit.cli import run_app
from session_audit.errors import ConfigError, ExportError
from test_views_data import add_sessions, at, sample_db

FORMULA = ("=", "+", "-", "@", "\t", "\r")


@pytest.fixture()
def conn() -> duckdb.DuckDBPyConnection:
    return sample_db()


def _table_rows(conn: duckdb.DuckDBPyConnection, name: str) -> list[tuple[Any, ...]]:
    # ORDER BY ALL: every column left to right, the order export promises.
    return conn.execute(f'SELECT * FROM "{name}" ORDER BY ALL').fetchall()


def _csv_back(
    conn: duckdb.DuckDBPyConnection, path: Path, columns: list[dict[str, str]]
) -> list[tuple[Any, ...]]:
    types = {c["name"]: c["type"] for c in columns}
    return conn.execute(
        "SELECT * FROM read_csv(?, header = true, columns = ?, allow_quoted_nulls = false)",
        [str(path), types],
    ).fetchall()


@pytest.mark.parametrize("dataset", ["user_sessions", "login_history", "users", "shared_ips"])
def test_csv_parsed_back_equals_the_dataset_with_formula_cells_neutralised(
    conn: duckdb.DuckDBPyConnection, tmp_path: Path, dataset: str
) -> None:
    result = export_dataset(conn, dataset=dataset, fmt="csv", out_dir=tmp_path / "out")
    manifest = result.manifest
    assert result.files == [f"{dataset}.csv"]
    back = _csv_back(conn, tmp_path / "out" / f"{dataset}.csv", manifest["columns"])
    expected = [
        tuple("'" + v if isinstance(v, str) and v.startswith(FORMULA) else v for v in row)
        for row in _table_rows(conn, dataset)
    ]
    assert back == expected
    assert manifest["row_count"] == len(expected) > 0


def test_csv_neutralises_only_text_cells(conn: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    add_sessions(conn, [{"id": 5000, "user_id": 3, "start": at(10), "end": at(5)}])
    export_dataset(conn, dataset="login_history", fmt="csv", out_dir=tmp_path / "out")
    with (tmp_path / "out" / "login_history.csv").open(newline="") as handle:
        records = list(csv.DictReader(handle))
    row = next(r for r in records if r["session_id"] == "901")
    assert row["ip_address"] == '\'=HYPERLINK("http://x")'
    assert row["app_id"] == "'+cmd"
    assert row["app_version"] == "'-1"
    # numbers stay numbers: a negative gap is not text and is not touched
    negative = [r["duration_seconds"] for r in records if r["duration_seconds"].startswith("-")]
    assert negative == ["-300.0"]
    assert all(not v.startswith(FORMULA) for r in records for v in r.values() if v != "-300.0")


@pytest.mark.parametrize("dataset", ["user_sessions", "login_history", "concurrent_sessions"])
def test_parquet_equals_the_dataset_exactly(
    conn: duckdb.DuckDBPyConnection, tmp_path: Path, dataset: str
) -> None:
    export_dataset(conn, dataset=dataset, fmt="parquet", out_dir=tmp_path / "out")
    back = conn.execute(
        "SELECT * FROM read_parquet(?)", [str(tmp_path / "out" / f"{dataset}.parquet")]
    ).fetchall()
    assert back == _table_rows(conn, dataset)
    if dataset != "concurrent_sessions":  # no concurrency in the sample under the open rule
        assert any('=HYPERLINK("http://x")' in row for row in back)  # kept exactly


def test_manifest_records_what_an_auditor_needs(
    conn: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    source = tmp_path / "fake-source.duckdb"
    source.write_bytes(b"x" * 10)
    when = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    filters = ExportFilters(since=datetime(2024, 3, 10, tzinfo=UTC), user_id=2, org="default")
    result = export_dataset(
        conn,
        dataset="login_history",
        fmt="parquet",
        out_dir=tmp_path / "out",
        filters=filters,
        source=source,
        clock=lambda: when,
    )
    manifest = orjson.loads((tmp_path / "out" / "manifest.json").read_bytes())
    assert manifest == result.manifest
    assert manifest["dataset"] == "login_history"
    assert manifest["dataset_kind"] == "view"
    assert manifest["format"] == "parquet"
    assert manifest["filters"] == {
        "since": "2024-03-10T00:00:00+00:00",
        "until": None,
        "user_id": 2,
        "org": "default",
    }
    assert manifest["generated_at"] == "2024-05-01T12:00:00+00:00"
    assert manifest["source"]["path"] == str(source.resolve())
    assert manifest["source"]["bytes"] == 10
    assert manifest["tool"] == {"name": "session-audit", "version": __version__}
    expected_rows = conn.execute(
        "SELECT count(*) FROM login_history WHERE user_id = 2 AND start_time >= ?",
        [datetime(2024, 3, 10, tzinfo=UTC)],
    ).fetchall()[0][0]
    [entry] = manifest["files"]
    assert entry["rows"] == manifest["row_count"] == expected_rows
    assert entry["sha256"] == sha256_file(tmp_path / "out" / entry["path"])
    assert {c["name"] for c in manifest["columns"]} >= {"session_id", "start_time"}


def test_filters_select_the_same_rows_as_sql(
    conn: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    since = datetime(2024, 3, 5, tzinfo=UTC)
    until = datetime(2024, 3, 20, tzinfo=UTC)
    export_dataset(
        conn,
        dataset="user_sessions",
        fmt="parquet",
        out_dir=tmp_path / "out",
        filters=ExportFilters(since=since, until=until, user_id=1),
    )
    back = conn.execute(
        "SELECT id FROM read_parquet(?)", [str(tmp_path / "out" / "user_sessions.parquet")]
    ).fetchall()
    expected = conn.execute(
        "SELECT id FROM user_sessions WHERE user_id = 1 AND start_time >= ? AND start_time < ?"
        " ORDER BY org, id",
        [since, until],
    ).fetchall()
    assert back == expected and len(expected) == 15


def test_org_filter_and_users_table_user_column(
    conn: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    result = export_dataset(
        conn, dataset="users", fmt="csv", out_dir=tmp_path / "u", filters=ExportFilters(user_id=3)
    )
    assert result.row_count == 1
    other = export_dataset(
        conn, dataset="users", fmt="csv", out_dir=tmp_path / "o", filters=ExportFilters(org="x")
    )
    assert other.row_count == 0
    assert (tmp_path / "o" / "users.csv").read_text().startswith("org,id,name")


def test_large_exports_are_partitioned_by_month(
    conn: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    result = export_dataset(
        conn, dataset="user_sessions", fmt="parquet", out_dir=tmp_path / "out", partition_rows=10
    )
    assert result.files == ["user_sessions-2024-03.parquet", "user_sessions-2024-04.parquet"]
    assert result.manifest["partitioned_by"] == "month"
    parts = [
        conn.execute("SELECT * FROM read_parquet(?)", [str(tmp_path / "out" / f)]).fetchall()
        for f in result.files
    ]
    assert [len(p) for p in parts] == [e["rows"] for e in result.manifest["files"]]
    assert parts[0] + parts[1] != [] and sorted(parts[0] + parts[1]) == sorted(
        _table_rows(conn, "user_sessions")
    )
    months = {row[3].strftime("%Y-%m") for row in parts[0]}
    assert months == {"2024-03"}


def test_rows_without_a_timestamp_go_to_an_undated_partition(tmp_path: Path) -> None:
    conn = sample_db()
    result = export_dataset(
        conn, dataset="user_risk_summary", fmt="csv", out_dir=tmp_path / "out", partition_rows=1
    )
    assert result.manifest["time_column"] == "last_login"
    assert result.files[-1] == "user_risk_summary-undated.csv" or all(
        "undated" not in f for f in result.files
    )
    assert (
        result.row_count == conn.execute("SELECT count(*) FROM user_risk_summary").fetchall()[0][0]
    )


def test_same_data_gives_identical_files(conn: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    a = export_dataset(conn, dataset="login_history", fmt="csv", out_dir=tmp_path / "a")
    b = export_dataset(conn, dataset="login_history", fmt="csv", out_dir=tmp_path / "b")
    assert [e["sha256"] for e in a.manifest["files"]] == [e["sha256"] for e in b.manifest["files"]]


@pytest.mark.parametrize(
    "name", ["nope", "users; DROP TABLE users", 'users" --', "main.users", "USERS"]
)
def test_unknown_dataset_is_a_config_error_and_changes_nothing(
    conn: duckdb.DuckDBPyConnection, tmp_path: Path, name: str
) -> None:
    with pytest.raises(ConfigError, match="unknown dataset"):
        export_dataset(conn, dataset=name, fmt="csv", out_dir=tmp_path / "out")
    assert conn.execute("SELECT count(*) FROM users").fetchall() == [(4,)]
    assert not (tmp_path / "out").exists()


def test_filters_that_do_not_apply_are_config_errors(
    conn: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    conn.execute("CREATE TABLE undated_notes (note VARCHAR)")
    with pytest.raises(ConfigError, match="no timestamp column"):
        export_dataset(
            conn,
            dataset="undated_notes",
            fmt="csv",
            out_dir=tmp_path / "a",
            filters=ExportFilters(since=datetime(2024, 1, 1, tzinfo=UTC)),
        )
    with pytest.raises(ConfigError, match="no user column"):
        export_dataset(
            conn,
            dataset="ip_activity",
            fmt="csv",
            out_dir=tmp_path / "b",
            filters=ExportFilters(user_id=1),
        )
    with pytest.raises(ConfigError, match="not before"):
        ExportFilters(
            since=datetime(2024, 2, 1, tzinfo=UTC), until=datetime(2024, 1, 1, tzinfo=UTC)
        )
    with pytest.raises(ConfigError, match="--since"):
        parse_when("yesterday", "--since")
    assert parse_when("2024-03-01", "--since") == datetime(2024, 3, 1, tzinfo=UTC)
    assert parse_when("2024-03-01T10:00:00Z", "--until") == datetime(2024, 3, 1, 10, tzinfo=UTC)
    with pytest.raises(ConfigError, match="unknown format"):
        export_dataset(conn, dataset="users", fmt="xlsx", out_dir=tmp_path / "c")


def test_refuses_to_overwrite_without_force_and_replaces_with_it(
    conn: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    export_dataset(conn, dataset="users", fmt="csv", out_dir=out)
    with pytest.raises(ExportError, match="--force"):
        export_dataset(conn, dataset="users", fmt="parquet", out_dir=out)
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json", "users.csv"]
    export_dataset(conn, dataset="users", fmt="parquet", out_dir=out, force=True)
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json", "users.parquet"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no staging left behind


def test_force_never_deletes_a_directory_that_is_not_an_export(
    conn: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    precious = tmp_path / "home"
    precious.mkdir()
    (precious / "thesis.txt").write_text("years of work")
    with pytest.raises(ExportError, match="not an earlier export"):
        export_dataset(conn, dataset="users", fmt="csv", out_dir=precious, force=True)
    assert (precious / "thesis.txt").read_text() == "years of work"


def test_cli_export_writes_and_reports_errors_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "s.duckdb"
    sample_db(db).close()
    out = tmp_path / "out"
    code = run_app(
        ["export", "--db", str(db), "--dataset", "login_history", "--format", "csv",
         "--out", str(out), "--since", "2024-04-01", "--user", "2"]
    )  # fmt: skip
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "exported 11 row(s) of login_history" in captured.out
    manifest = orjson.loads((out / "manifest.json").read_bytes())
    assert manifest["source"]["path"] == str(db.resolve())
    assert manifest["filters"]["since"] == "2024-04-01T00:00:00+00:00"

    code = run_app(["export", "--db", str(db), "--dataset", "bogus", "--format", "csv",
                    "--out", str(tmp_path / "x")])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "unknown dataset 'bogus'" in err
    code = run_app(["export", "--db", str(db), "--dataset", "users", "--format", "csv",
                    "--out", str(out)])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1 and "--force" in err
    code = run_app(["export", "--db", str(db), "--dataset", "users", "--format", "csv",
                    "--out", str(tmp_path / "y"), "--since", "soon"])  # fmt: skip
    assert code == 2 and "--since" in capsys.readouterr().err


HIDDEN_FORMULAS = [" =1+1", "\t@x", "\uff1dSUM(A1)", "\uff0b1", "\u202e=1", "\u2066+1", "\u200f-1"]


def test_csv_neutralises_formulas_behind_whitespace_full_width_and_bidi(
    conn: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    add_sessions(
        conn,
        [
            {"id": 7000 + i, "user_id": 1, "start": at(i), "app": text, "ip": text}
            for i, text in enumerate(HIDDEN_FORMULAS)
        ],
    )
    export_dataset(conn, dataset="user_sessions", fmt="csv", out_dir=tmp_path / "out")
    with (tmp_path / "out" / "user_sessions.csv").open(newline="", encoding="utf-8") as handle:
        records = {r["id"]: r for r in csv.DictReader(handle)}
    for i, text in enumerate(HIDDEN_FORMULAS):
        row = records[str(7000 + i)]
        assert row["app_id"] == "'" + text
        assert row["ip_address"] == "'" + text
    export_dataset(conn, dataset="user_sessions", fmt="parquet", out_dir=tmp_path / "pq")
    back = conn.execute(
        "SELECT app_id FROM read_parquet(?) WHERE id >= 7000 ORDER BY id",
        [str(tmp_path / "pq" / "user_sessions.parquet")],
    ).fetchall()
    assert [r[0] for r in back] == HIDDEN_FORMULAS  # Parquet keeps exact values
