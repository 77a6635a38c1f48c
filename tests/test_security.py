"""Issue 16: nothing writable, nothing forgeable.

Every attack here is refused with one line on stderr (no traceback) and leaves the database and
the file system exactly as they were: the whole working tree is hashed before and after.
"""

from __future__ import annotations

import asyncio
import errno
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pytest

from session_audit.analysis.export import export_dataset
from session_audit.analysis.manifest import MANIFEST_NAME, SIGNATURE_NAME, manifest_bytes
from session_audit.analysis.query import csv_safe_text, needs_neutralising, run_query
from session_audit.cli import run_app
from session_audit.db.connection import connect, writer
from session_audit.db.migrations import migrate
from session_audit.db.sqlfiles import query_sql
from session_audit.db.views import VIEWS
from session_audit.errors import ConfigError, StorageError
from session_audit.ingest.runner import IdSource, ingest
from support import assert_db_equals_truth, make_sim, rejected_ids, sim_settings
from test_views_data import sample_db

# --- helpers --------------------------------------------------------------------------------


def tree(root: Path) -> dict[str, str]:
    """Every entry under ``root``: files by sha256, folders and links by kind."""
    out: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        base = Path(dirpath)
        for name in dirnames:
            path = base / name
            out[str(path.relative_to(root))] = "link" if path.is_symlink() else "dir"
        for name in filenames:
            path = base / name
            rel = str(path.relative_to(root))
            if path.is_symlink():
                out[rel] = "link -> " + os.readlink(path)
            else:
                out[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run the CLI in-process; our errors become exit codes, anything else would raise."""
    code = run_app(list(args))
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err + captured.out
    return code, captured.out, captured.err


def refused(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    """The CLI refuses with a non-zero exit and exactly one line on stderr."""
    code, out, err = cli(capsys, *args)
    assert code != 0, out
    assert err.startswith("error: ") and err.count("\n") == 1, err
    return err


@pytest.fixture
def work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A working directory holding a database ``audit.duckdb``, a hard link to it, a symlink to
    it, another database and a file with a secret; the tree is checked unchanged afterwards."""
    root = tmp_path / "work"
    root.mkdir()
    db = root / "audit.duckdb"
    sample_db(db).close()
    os.link(db, root / "link.duckdb")
    (root / "sym.duckdb").symlink_to(db)
    other = duckdb.connect(str(root / "other.duckdb"))
    other.execute("CREATE TABLE precious AS SELECT 42 AS answer")
    other.close()
    (root / "secret.txt").write_text("the secret\n")
    monkeypatch.chdir(root)
    yield root


# --- 1. query is a sandbox ------------------------------------------------------------------

QUERY_ATTACKS = [
    # attach the same file again (hard link, symlink, absolute path) for writing
    "ATTACH 'link.duckdb' AS w (READ_WRITE); DELETE FROM w.user_sessions",
    "ATTACH 'sym.duckdb' AS w (READ_WRITE)",
    "ATTACH '{root}/audit.duckdb' AS w (READ_WRITE)",
    "ATTACH 'audit.duckdb' AS w",
    "ATTACH 'other.duckdb' AS o",
    "ATTACH 'fresh.duckdb' AS f",
    "ATTACH ':memory:' AS m",
    # writing files
    "COPY (SELECT 'x') TO 'other.duckdb'",
    "COPY user_sessions TO 'dump.csv'",
    "COPY (FROM users) TO 'dump.parquet' (FORMAT parquet)",
    "EXPORT DATABASE 'dump'",
    "IMPORT DATABASE 'dump'",
    # reading files
    "SELECT * FROM read_text('/etc/passwd')",
    "SELECT * FROM read_text('secret.txt')",
    "SELECT * FROM read_csv('secret.txt')",
    "SELECT * FROM read_csv_auto('/etc/passwd')",
    "SELECT * FROM read_blob('secret.txt')",
    "SELECT * FROM read_json('secret.txt')",
    "SELECT * FROM read_parquet('x.parquet')",
    "SELECT * FROM sniff_csv('secret.txt')",
    "SELECT * FROM glob('/root/*')",
    "SELECT * FROM glob('*')",
    "SELECT * FROM 'secret.txt'",
    "COPY users FROM 'secret.txt'",
    # extensions
    "INSTALL httpfs",
    "LOAD httpfs",
    "FORCE INSTALL sqlite",
    "ATTACH 'sqlite:x.db' AS s",
    "CREATE SECRET s (TYPE s3)",
    # configuration
    "SET enable_external_access = true",
    "RESET enable_external_access",
    "SET lock_configuration = false",
    "SET threads = 1",
    "SET GLOBAL memory_limit = '1GB'",
    "SET TimeZone = 'Europe/Paris'",
    "PRAGMA enable_profiling",
    "SET profiling_output = 'profile.txt'",
    "SET temp_directory = '/tmp/x'",
    # writing the database itself
    "DELETE FROM user_sessions",
    "UPDATE users SET name = 'x'",
    "DROP VIEW login_history",
    "CREATE TABLE t (i INTEGER)",
    "CREATE OR REPLACE VIEW login_history AS SELECT 1",
]


@pytest.mark.parametrize("sql", QUERY_ATTACKS)
def test_query_attacks_fail_in_one_line_and_change_nothing(
    work: Path, capsys: pytest.CaptureFixture[str], sql: str
) -> None:
    before = tree(work)
    err = refused(capsys, "query", sql.format(root=work), "--db", "audit.duckdb")
    assert "query failed" in err or "query refused" in err
    assert tree(work) == before


def test_query_under_the_sandbox_still_reads_every_view_and_table(
    work: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = tree(work)
    for view in VIEWS:
        result = run_query(work / "audit.duckdb", f'SELECT count(*) FROM "{view}"')
        assert result.rows[0][0] >= 0
    assert run_query(work / "audit.duckdb", "SELECT count(*) FROM users").rows == [(4,)]
    code, out, _ = cli(
        capsys, "query", "SELECT 1 AS i; SELECT count(*) AS n FROM users", "--db",
        "audit.duckdb", "--format", "json",
    )  # fmt: skip
    assert code == 0 and orjson.loads(out) == [{"n": 4}]  # the last statement's rows
    for sql in ("DESCRIBE users", "SHOW TABLES", "EXPLAIN SELECT 1", "PRAGMA version",
                "SUMMARIZE users", "PIVOT users ON org USING count(*)"):  # fmt: skip
        assert cli(capsys, "query", sql, "--db", "audit.duckdb")[0] == 0, sql
    assert tree(work) == before


def test_the_sandbox_is_the_connection_not_a_filter(work: Path) -> None:
    conn = connect(work / "audit.duckdb", read_only=True, sandbox=True)
    try:
        for sql in (  # straight to the connection, past query's statement filter
            "ATTACH 'link.duckdb' AS w (READ_WRITE)",
            "COPY (SELECT 1) TO 'x.csv'",
            "SET enable_external_access = true",
            "LOAD httpfs",
        ):
            with pytest.raises(duckdb.Error):
                conn.execute(sql)
        settings = dict(
            conn.execute(
                "SELECT name, value FROM duckdb_settings() WHERE name IN "
                "('enable_external_access', 'lock_configuration', 'TimeZone')"
            ).fetchall()
        )
    finally:
        conn.close()
    assert settings == {
        "enable_external_access": "false",
        "lock_configuration": "true",
        "TimeZone": "UTC",
    }


# --- 2. export never replaces what it did not write -----------------------------------------


def _export(capsys: pytest.CaptureFixture[str], out: str, *extra: str) -> tuple[int, str, str]:
    return cli(
        capsys, "export", "--db", "audit.duckdb", "--dataset", "users", "--format", "csv",
        "--out", out, *extra,
    )  # fmt: skip


def test_force_refuses_a_folder_with_a_foreign_manifest(
    work: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    app = work / "webapp"
    app.mkdir()
    (app / "manifest.json").write_text('{"name": "my web app", "start_url": "/"}')
    (app / "index.html").write_text("<h1>hi</h1>")
    before = tree(work)
    code, _, err = _export(capsys, "webapp", "--force")
    assert code == 1 and err.count("\n") == 1 and "not an earlier export" in err
    assert tree(work) == before


def test_force_refuses_an_export_with_files_it_does_not_list(
    work: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _export(capsys, "ex")[0] == 0
    (work / "ex" / "notes.txt").write_text("mine")
    before = tree(work)
    code, _, err = _export(capsys, "ex", "--force")
    assert code == 1 and err.count("\n") == 1 and "notes.txt" in err
    assert tree(work) == before
    (work / "ex" / "notes.txt").unlink()
    (work / "ex" / "sub").mkdir()
    before = tree(work)
    assert _export(capsys, "ex", "--force")[0] == 1
    assert tree(work) == before


def test_force_refuses_an_export_missing_a_listed_file_or_with_a_forged_manifest(
    work: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _export(capsys, "ex")[0] == 0
    manifest = orjson.loads((work / "ex" / MANIFEST_NAME).read_bytes())
    manifest["files"] = [1]
    (work / "ex" / MANIFEST_NAME).write_bytes(orjson.dumps(manifest))
    before = tree(work)
    code, _, err = _export(capsys, "ex", "--force")
    assert code == 1 and err.count("\n") == 1 and "not an earlier export" in err
    assert tree(work) == before


def test_force_replaces_an_earlier_export_exactly(
    work: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _export(capsys, "ex")[0] == 0
    code, _, err = cli(
        capsys, "export", "--db", "audit.duckdb", "--dataset", "login_history", "--format",
        "parquet", "--out", "ex", "--force",
    )  # fmt: skip
    assert code == 0, err
    assert sorted(p.name for p in (work / "ex").iterdir()) == [
        "login_history.parquet",
        MANIFEST_NAME,
    ]
    assert not [p for p in work.iterdir() if p.name.startswith(".")]  # no staging left


@pytest.mark.parametrize("out", [".", "./", "", "deep/.."])
def test_out_dot_is_refused(work: Path, capsys: pytest.CaptureFixture[str], out: str) -> None:
    before = tree(work)
    for flags in ((), ("--force",)):
        err = refused(
            capsys, "export", "--db", "audit.duckdb", "--dataset", "users", "--format", "csv",
            "--out", out, *flags,
        )  # fmt: skip
        assert "working directory" in err
    assert tree(work) == before


def test_out_cwd_parents_and_the_database_folder_are_refused(
    work: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = work.parent / "elsewhere"
    elsewhere.mkdir()
    before = tree(work)
    for out in (str(work), "..", str(work.parent)):
        assert "working directory" in refused(
            capsys, "export", "--db", "audit.duckdb", "--dataset", "users", "--format", "csv",
            "--out", out, "--force",
        )  # fmt: skip
    monkeypatch.chdir(elsewhere)
    db = str(work / "audit.duckdb")
    for out in (str(work), db):
        assert "holds the database" in refused(
            capsys, "export", "--db", db, "--dataset", "users", "--format", "csv",
            "--out", out, "--force",
        )  # fmt: skip
    assert tree(work) == before


def test_out_symlink_file_or_under_a_file_is_refused(
    work: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _export(capsys, "ex")[0] == 0
    (work / "ex-link").symlink_to(work / "ex")
    before = tree(work)
    assert "symbolic link" in refused(
        capsys, "export", "--db", "audit.duckdb", "--dataset", "users", "--format", "csv",
        "--out", "ex-link", "--force",
    )  # fmt: skip
    for out in ("secret.txt", "secret.txt/sub"):
        refused(
            capsys, "export", "--db", "audit.duckdb", "--dataset", "users", "--format", "csv",
            "--out", out, "--force",
        )  # fmt: skip
    assert tree(work) == before


def test_staging_is_a_fresh_folder_never_an_existing_one(work: Path) -> None:
    # an attacker-made folder with the old predictable staging name is left alone
    trap = work / f".ex.partial-{os.getpid()}"
    trap.mkdir()
    (trap / "keep.txt").write_text("keep")
    conn = connect(work / "audit.duckdb", read_only=True)
    try:
        export_dataset(conn, dataset="users", fmt="csv", out_dir=work / "ex")
    finally:
        conn.close()
    assert (trap / "keep.txt").read_text() == "keep"
    assert sorted(p.name for p in (work / "ex").iterdir()) == [MANIFEST_NAME, "users.csv"]


# --- 3. signed exports ----------------------------------------------------------------------


@pytest.fixture
def signed(work: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, Path]:
    code, out, err = cli(capsys, "keygen", "--out", "keys")
    assert code == 0, err
    private, public = (
        work / "keys" / "session-audit-signing.key",
        work / "keys" / "session-audit-signing.pub",
    )
    assert private.stat().st_mode & 0o077 == 0
    assert private.read_bytes() not in out.encode()
    code, out, err = cli(
        capsys, "export", "--db", "audit.duckdb", "--dataset", "login_history", "--format", "csv",
        "--out", "ex", "--sign-key", str(private),
    )  # fmt: skip
    assert code == 0, err
    assert "signed with key" in out
    return {"private": private, "public": public, "export": work / "ex"}


def _verify(capsys: pytest.CaptureFixture[str], keys: dict[str, Path], *extra: str) -> int:
    return cli(capsys, "verify", str(keys["export"]), "--public-key", str(keys["public"]), *extra)[
        0
    ]


def test_signed_export_round_trip(
    signed: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert (signed["export"] / SIGNATURE_NAME).is_file()
    code, out, _ = cli(
        capsys, "verify", str(signed["export"]), "--public-key", str(signed["public"])
    )
    assert code == 0 and "signature by the given key is good" in out
    code, out, _ = cli(capsys, "verify", str(signed["export"]))
    assert code == 0 and "not checked" in out


def test_any_byte_change_in_data_or_manifest_fails(
    signed: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    ex = signed["export"]
    for name in ("login_history.csv", MANIFEST_NAME):
        path = ex / name
        original = path.read_bytes()
        for index in (0, len(original) // 2, len(original) - 1):
            changed = bytearray(original)
            changed[index] = changed[index] ^ 0x01
            path.write_bytes(bytes(changed))
            assert _verify(capsys, signed) == 1, (name, index)
        path.write_bytes(original + b"\n")
        assert _verify(capsys, signed) == 1
        path.write_bytes(original)
        assert _verify(capsys, signed) == 0


def test_a_rehashed_manifest_fails(
    signed: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    ex = signed["export"]
    data = ex / "login_history.csv"
    data.write_bytes(data.read_bytes().replace(b"alice", b"mallory"))
    manifest = orjson.loads((ex / MANIFEST_NAME).read_bytes())
    manifest["files"][0]["sha256"] = hashlib.sha256(data.read_bytes()).hexdigest()
    manifest["files"][0]["bytes"] = data.stat().st_size
    (ex / MANIFEST_NAME).write_bytes(manifest_bytes(manifest))
    code, _, err = cli(capsys, "verify", str(ex), "--public-key", str(signed["public"]))
    assert code == 1 and "signature does not match" in err
    # even without the key, the signature file records the manifest it signed
    code, _, err = cli(capsys, "verify", str(ex))
    assert code == 1 and "changed since it was signed" in err


def test_a_removed_or_foreign_signature_fails(
    signed: dict[str, Path], capsys: pytest.CaptureFixture[str], work: Path
) -> None:
    ex = signed["export"]
    sig = (ex / SIGNATURE_NAME).read_bytes()
    (ex / SIGNATURE_NAME).unlink()
    code, _, err = cli(capsys, "verify", str(ex), "--public-key", str(signed["public"]))
    assert code == 1 and "not signed" in err
    assert cli(capsys, "verify", str(ex))[0] == 0  # unsigned exports keep working

    assert cli(capsys, "keygen", "--out", "other-keys")[0] == 0
    from session_audit.analysis.signing import load_private_key, sign_export

    sign_export(ex, load_private_key(work / "other-keys" / "session-audit-signing.key"))
    code, _, err = cli(capsys, "verify", str(ex), "--public-key", str(signed["public"]))
    assert code == 1 and "not by the given public key" in err

    record = orjson.loads(sig)
    for forged in (
        b"not json",
        b"[]",
        orjson.dumps({**record, "signature": "!!!"}),
        orjson.dumps({**record, "signature": "AAAA"}),
        orjson.dumps({**record, "algorithm": "RSA"}),
        orjson.dumps({k: v for k, v in record.items() if k != "key_id"}),
    ):
        (ex / SIGNATURE_NAME).write_bytes(forged)
        assert _verify(capsys, signed) == 1
    (ex / SIGNATURE_NAME).write_bytes(sig)
    assert _verify(capsys, signed) == 0


@pytest.mark.parametrize(
    ("flag", "content"),
    [
        ("--sign-key", b"not a key"),
        ("--sign-key", b""),
        ("--public-key", b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"),
    ],
)
def test_bad_key_files_are_one_line(
    signed: dict[str, Path],
    capsys: pytest.CaptureFixture[str],
    work: Path,
    flag: str,
    content: bytes,
) -> None:
    bad = work / "bad.pem"
    bad.write_bytes(content)
    before = tree(work)
    if flag == "--sign-key":
        refused(
            capsys, "export", "--db", "audit.duckdb", "--dataset", "users", "--format", "csv",
            "--out", "new-ex", "--sign-key", str(bad),
        )  # fmt: skip
        refused(
            capsys, "export", "--db", "audit.duckdb", "--dataset", "users", "--format", "csv",
            "--out", "new-ex", "--sign-key", str(signed["public"]),
        )  # fmt: skip
    else:
        refused(capsys, "verify", str(signed["export"]), "--public-key", str(bad))
        refused(capsys, "verify", str(signed["export"]), "--public-key", str(signed["private"]))
        refused(capsys, "verify", str(signed["export"]), "--public-key", "missing.pub")
    refused(capsys, "keygen", "--out", str(signed["private"].parent))  # never overwrites
    assert tree(work) == before


def test_force_replaces_a_signed_earlier_export(
    signed: dict[str, Path], capsys: pytest.CaptureFixture[str], work: Path
) -> None:
    code, _, err = cli(
        capsys, "export", "--db", "audit.duckdb", "--dataset", "users", "--format", "csv",
        "--out", "ex", "--force",
    )  # fmt: skip
    assert code == 0, err
    assert sorted(p.name for p in signed["export"].iterdir()) == [MANIFEST_NAME, "users.csv"]
    code, _, err = cli(capsys, "verify", "ex", "--public-key", str(signed["public"]))
    assert code == 1 and "not signed" in err


def _manifest_variants() -> list[tuple[str, bytes]]:
    first: dict[str, Any] = {"path": "users.csv", "rows": 1, "sha256": "0" * 64}
    good: dict[str, Any] = {
        "manifest_version": 1,
        "tool": {"name": "session-audit", "version": "0.1.0"},
        "dataset": "users",
        "format": "csv",
        "row_count": 1,
        "files": [first],
    }

    def with_(**changes: Any) -> bytes:
        return orjson.dumps({**good, **changes})

    def entry(**changes: Any) -> bytes:
        return with_(files=[{**first, **changes}])

    return [
        ("not json", b"{nope"),
        ("invalid utf-8", b"\xff\xfe{}"),
        ("a list", b"[1, 2]"),
        ("a string", b'"manifest"'),
        ("empty object", b"{}"),
        ("files: [1]", with_(files=[1])),
        ("files: a string", with_(files="users.csv")),
        ("files missing", orjson.dumps({k: v for k, v in good.items() if k != "files"})),
        ('rows: "abc"', entry(rows="abc")),
        ("rows: true", entry(rows=True)),
        ("rows: -1", entry(rows=-1)),
        ("rows: 1.5", entry(rows=1.5)),
        ("rows missing", with_(files=[{"path": "users.csv", "sha256": "0" * 64}])),
        ("path ../x", entry(path="../secret.txt")),
        ("path absolute", entry(path="/etc/passwd")),
        ("path in a folder", entry(path="sub/users.csv")),
        ("path the manifest", entry(path="manifest.json")),
        ("path a number", entry(path=7)),
        ("sha256 a number", entry(sha256=123)),
        ("sha256 short", entry(sha256="abc")),
        ("duplicate path", with_(files=[first, first])),
        ('row_count: "abc"', with_(row_count="abc")),
        ("row_count missing", orjson.dumps({k: v for k, v in good.items() if k != "row_count"})),
        ("format xlsx", with_(format="xlsx")),
        ("format missing", orjson.dumps({k: v for k, v in good.items() if k != "format"})),
        ("another tool", with_(tool={"name": "other"})),
        ("tool missing", orjson.dumps({k: v for k, v in good.items() if k != "tool"})),
        ("future version", with_(manifest_version=99)),
        ("version text", with_(manifest_version="1")),
        ("deep nesting", b"[" * 2000 + b"]" * 2000),
    ]


@pytest.mark.parametrize(("label", "content"), _manifest_variants())
def test_verify_never_tracebacks_on_a_malformed_manifest(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], label: str, content: bytes
) -> None:
    ex = tmp_path / "ex"
    ex.mkdir()
    (ex / MANIFEST_NAME).write_bytes(content)
    (ex / "users.csv").write_text("id\n1\n")
    err = refused(capsys, "verify", str(ex))
    assert MANIFEST_NAME in err, label


def test_verify_never_tracebacks_on_odd_directories(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "manifest-dir" / MANIFEST_NAME).mkdir(parents=True)
    refused(capsys, "verify", str(tmp_path / "manifest-dir"))
    (tmp_path / "file").write_text("x")
    refused(capsys, "verify", str(tmp_path / "file"))
    refused(capsys, "verify", str(tmp_path / "missing"))


def test_verify_lists_unreadable_data_files_without_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    conn = sample_db()
    export_dataset(conn, dataset="users", fmt="csv", out_dir=tmp_path / "ex")
    (tmp_path / "ex" / "users.csv").write_bytes(b"org,id\x00\n\xff\xfe,1\n")
    code, _, err = cli(capsys, "verify", str(tmp_path / "ex"))
    assert code == 1 and "users.csv: rows cannot be counted" in err


# --- 4. catalog names cannot collide with aliases -------------------------------------------

CATALOG_NAMES = [
    *("w", "s", "u", "main", "memory", "system", "temp", "l", "ls", "fn", "fu"),
    *("user_sessions", "users", "login_history", "ingest_state", "staged_rejected"),
]


@pytest.mark.parametrize("name", CATALOG_NAMES)
def test_migrate_ingest_query_and_export_a_database_named_like_an_alias(
    tmp_path: Path, name: str
) -> None:
    sim = make_sim(users=12, sessions=150, seed=3)
    db = tmp_path / f"{name}.duckdb"

    async def no_sleep(_: float) -> None:
        return None

    for _ in range(2):  # the second run re-reads every open session
        summary = asyncio.run(
            ingest(
                sim_settings(sim, db),
                IdSource("scan", start_id=sim.table.ids[0]),
                transport=sim.transport(),
                sleep=no_sleep,
            )
        )
        assert summary.status == "completed", summary.error
    assert_db_equals_truth(sim, db)
    for view in VIEWS:
        assert run_query(db, f'SELECT count(*) FROM "{view}"').rows[0][0] >= 0
    conn = connect(db, read_only=True)
    try:
        for dataset in ("login_history", "new_ip_logins", "user_risk_summary"):
            export_dataset(conn, dataset=dataset, fmt="csv", out_dir=tmp_path / f"ex-{dataset}")
    finally:
        conn.close()


# --- 5. settings and database paths: one line, nothing left behind --------------------------


@pytest.mark.parametrize("value", ["inf", "-inf", "nan", "Infinity", "1e400", "1e12"])
def test_non_finite_or_absurd_rate_is_one_line_and_starts_no_run(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    value: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SESSION_AUDIT_REQUESTS_PER_SECOND", value)
    for key, setting in {"USERNAME": "u", "PASSWORD": "p", "CID": "1", "SECRET": "s"}.items():
        monkeypatch.setenv(f"SESSION_AUDIT_{key}", setting)
    before = tree(tmp_path)
    err = refused(capsys, "ingest", "--db", "s.duckdb", "--start-id", "1", "--no-progress")
    assert "requests_per_second" in err
    assert tree(tmp_path) == before  # no database, so no ledger row left 'running'


def test_database_paths_that_cannot_work_are_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "afile").write_text("x")
    (tmp_path / "adir").mkdir()
    before = tree(tmp_path)
    for db in ("afile/x.duckdb", "afile/sub/x.duckdb", "adir", "missing/x.duckdb"):
        refused(capsys, "query", "SELECT 1", "--db", db)
        refused(capsys, "export", "--db", db, "--dataset", "users", "--format", "csv",
                "--out", "ex")  # fmt: skip
    for db in ("afile/x.duckdb", "afile/sub/x.duckdb", "adir"):
        with pytest.raises(ConfigError):
            connect(tmp_path / db)
        with pytest.raises(ConfigError), writer(tmp_path / db, command="t"):
            pass
    assert tree(tmp_path) == before


def test_a_read_only_file_system_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def read_only(self: Path, *args: Any, **kwargs: Any) -> None:
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(self))

    monkeypatch.setattr(Path, "mkdir", read_only)
    with pytest.raises(StorageError, match="Read-only file system") as info:
        connect(tmp_path / "missing" / "x.duckdb")
    assert "\n" not in str(info.value)


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux procfs")
def test_a_folder_where_no_file_can_be_created_is_one_line() -> None:
    with pytest.raises(StorageError, match="cannot open database /proc/") as info:
        connect("/proc/session-audit-test.duckdb")
    assert "\n" not in str(info.value)


def test_corruption_is_reported_as_corruption(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sim = make_sim(users=30, sessions=2500, seed=5)
    db = tmp_path / "s.duckdb"

    async def no_sleep(_: float) -> None:
        return None

    def run() -> Any:
        return asyncio.run(
            ingest(
                sim_settings(sim, db),
                IdSource("scan", start_id=sim.table.ids[0]),
                transport=sim.transport(),
                sleep=no_sleep,
            )
        )

    assert run().status == "completed"
    size = db.stat().st_size
    block = 256 * 1024
    assert size > 3 * block
    with db.open("r+b") as handle:  # damage every data block after the headers
        for offset in range(3 * 4096 + block, size, block):
            handle.seek(offset + 1000)
            handle.write(b"\xff" * 64)
    err = refused(capsys, "query", "SELECT * FROM login_history", "--db", str(db))
    assert "corrupt" in err and "Corrupt database file" in err
    with pytest.raises(StorageError) as info:
        run()
    assert "Corrupt database file" in str(info.value)
    assert "transaction is aborted" not in str(info.value)


# --- 8. rejected rows once, CSV neutralisation ----------------------------------------------


def test_rejected_sessions_keep_one_row_per_payload_across_rescans(tmp_path: Path) -> None:
    sim = make_sim(users=20, sessions=400, seed=11)
    db = tmp_path / "s.duckdb"
    bad = rejected_ids(sim)
    assert bad

    async def no_sleep(_: float) -> None:
        return None

    ids = tuple(sorted(s["id"] for s in sim.truth_sessions()))
    for _ in range(3):
        asyncio.run(
            ingest(
                sim_settings(sim, db),
                IdSource("ids", ids=ids),
                transport=sim.transport(),
                sleep=no_sleep,
            )
        )
    conn = connect(db, read_only=True)
    try:
        rows = conn.execute("SELECT session_id, raw_json FROM rejected_sessions").fetchall()
        runs = conn.execute("SELECT DISTINCT run_id FROM rejected_sessions").fetchall()
    finally:
        conn.close()
    assert len(rows) == len(set(rows)) == len(bad)
    assert {r[0] for r in rows} == bad
    assert len(runs) == 1  # recorded by the first run that saw them


def test_insert_rejected_is_null_safe_and_dedupes_within_a_batch() -> None:
    conn = connect(":memory:")
    migrate(conn, views=())
    conn.execute(
        "CREATE TEMP TABLE staged_rejected AS SELECT * FROM (VALUES"
        " ('default', NULL::BIGINT, '{}', 'no id'), ('default', NULL::BIGINT, '{}', 'no id'),"
        " ('default', 7, '{\"id\":7}', 'x'), ('other', 7, '{\"id\":7}', 'x'))"
        " AS t(org, session_id, raw_json, reason)"
    )
    for run_id in (1, 2):
        conn.execute(query_sql("store", "insert_rejected"), {"run_id": run_id})
    rows = conn.execute(
        "SELECT org, session_id, run_id FROM rejected_sessions ORDER BY ALL"
    ).fetchall()
    assert rows == [("default", 7, 1), ("default", None, 1), ("other", 7, 1)]


FORMULA_CELLS = [
    "=1+1",
    "+1",
    "-1",
    "@SUM(A1)",
    "\t=1",
    "\r=1",
    "\tplain",
    " =1",
    "   +cmd",
    "\n=1",
    "\u00a0=1",
    "\u3000=1",
    "\uff1d1+1",
    "\uff0bcmd",
    "\uff0d1",
    "\uff20SUM(A1)",
    " \uff1d1",
    "\u202e=1",
    "\u202a@x",
    "\u2066=1",
    "\u2069+1",
    "\u200e=1",
    "\u200f-1",
    "\ufeff=1",
    "\u200b=1",
    "\u202e \u200f =HYPERLINK(1)",
]
PLAIN_CELLS = ["", "abc", "a=b", " x", "\u202eabc", "1-2", "\uff11", "\u00e9=", "10.0.0.1", " "]


@pytest.mark.parametrize("cell", FORMULA_CELLS)
def test_formula_cells_are_neutralised_in_sql_and_python(cell: str) -> None:
    assert needs_neutralising(cell)
    assert csv_safe_text(cell) == "'" + cell
    assert _sql_csv_safe(cell) == "'" + cell


@pytest.mark.parametrize("cell", PLAIN_CELLS)
def test_plain_cells_are_left_alone(cell: str) -> None:
    assert not needs_neutralising(cell)
    assert csv_safe_text(cell) == cell
    assert _sql_csv_safe(cell) == cell


def test_sql_and_python_rules_agree_on_every_prefix() -> None:
    alphabet = [chr(c) for c in range(0, 0x250)] + [
        chr(c) for c in (*range(0x2000, 0x2070), 0x3000, 0xFEFF, 0xFF0B, 0xFF0D, 0xFF1D, 0xFF20)
    ]
    cells = [ch + tail for ch in alphabet for tail in ("", "=", "x")]
    cells = [c for c in cells if "\x00" not in c]
    conn = connect(":memory:")
    conn.execute(query_sql("export", "csv_safe_macro"))
    row = conn.execute(
        "SELECT list_transform(?::VARCHAR[], lambda c: csv_safe(c))", [cells]
    ).fetchone()
    assert row is not None
    assert row[0] == [csv_safe_text(c) for c in cells]


def _sql_csv_safe(cell: str) -> str:
    conn = connect(":memory:")
    conn.execute(query_sql("export", "csv_safe_macro"))
    row = conn.execute("SELECT csv_safe(?::VARCHAR)", [cell]).fetchone()
    assert row is not None
    return str(row[0])
