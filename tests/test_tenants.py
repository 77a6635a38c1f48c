"""Several organisations (issue 7): the tenants file, secrets from named env vars, one run per
tenant into one database, distinguished by org."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from session_audit.cli.app import run_app
from session_audit.errors import ConfigError
from session_audit.settings import Settings
from session_audit.simulator import Simulator
from session_audit.simulator.config import Credentials
from session_audit.tenants import load_tenants, tenant_settings
from support import FAST, assert_db_equals_truth, served, sim_config

TOML = """
[[tenant]]
name = "acme"
base_url = "{acme_url}"
username_env = "ACME_USER"
password_env = "ACME_PASSWORD"
cid_env = "ACME_CID"
secret_env = "ACME_SECRET"
start_id = {acme_start}

[[tenant]]
name = "globex"
base_url = "{globex_url}"
username = "globex-ops"
password_env = "GLOBEX_PASSWORD"
cid = "77"
secret_env = "GLOBEX_SECRET"
start_id = {globex_start}
"""


def _toml(acme_start: int, globex_start: int, urls: list[str] | None = None) -> str:
    acme_url, globex_url = urls or ("http://acme.sim/v1", "http://globex.sim/v1")
    return TOML.format(
        acme_start=acme_start, globex_start=globex_start, acme_url=acme_url, globex_url=globex_url
    )


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "tenants.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_tenants_file_is_parsed_and_secrets_come_from_the_named_env_vars(tmp_path: Path) -> None:
    path = _write(tmp_path, _toml(1, 5))
    acme, globex = load_tenants(path)
    base = Settings.model_validate(
        {"username": "someone-else", "password": "base-pw", "cid": "1", "secret": "base-sec"}
    )
    env = {
        "ACME_USER": "acme-u",
        "ACME_PASSWORD": "acme-pw",
        "ACME_CID": "5",
        "ACME_SECRET": "acme-sec",
        "GLOBEX_PASSWORD": "g-pw",
        "GLOBEX_SECRET": "g-sec",
    }
    a = tenant_settings(base, acme, env)
    assert (a.org, a.base_url, a.username, a.cid) == ("acme", "http://acme.sim/v1", "acme-u", "5")
    assert a.password.get_secret_value() == "acme-pw"
    assert a.secret.get_secret_value() == "acme-sec"
    g = tenant_settings(base, globex, env)
    assert (g.org, g.username, g.cid) == ("globex", "globex-ops", "77")
    assert globex.start_id == 5
    # secrets never leak from the base settings (another account) into a tenant
    no_secret = globex.model_copy(update={"secret_env": None})
    assert tenant_settings(base, no_secret, env).secret.get_secret_value() == ""


def test_a_missing_env_var_is_named_never_its_value(tmp_path: Path) -> None:
    path = _write(tmp_path, _toml(1, 5))
    acme, _ = load_tenants(path)
    env = {"ACME_USER": "acme-u", "ACME_PASSWORD": "acme-pw", "ACME_CID": "5"}
    with pytest.raises(ConfigError, match="ACME_SECRET") as info:
        tenant_settings(Settings(), acme, env)
    assert "acme-pw" not in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "no \\[\\[tenant\\]\\] entries"),
        (
            "[[tenant]]\nname='a'\nbase_url='http://x/v1'\nusername='u'\npassword_env='P'\n"
            "password='hunter2'\n",
            "must not be written in the file",
        ),
        (
            "[[tenant]]\nname='a b'\nbase_url='http://x/v1'\nusername='u'\npassword_env='P'\n",
            "name",
        ),
        (
            "[[tenant]]\nname='a'\nbase_url='http://x/v1'\npassword_env='P'\n",
            "exactly one of username, username_env",
        ),
        (
            "[[tenant]]\nname='a'\nbase_url='http://x/v1'\nusername='u'\npassword_env='P'\n"
            "[[tenant]]\nname='a'\nbase_url='http://y/v1'\nusername='u'\npassword_env='P'\n",
            "repeated: a",
        ),
        ("[[tenant]\n", "not valid TOML"),
        (
            "[[tenant]]\nname='a'\nbase_url='http://x/v1'\nusername='u'\npassword_env='P'\n"
            "colour='red'\n",
            "colour",
        ),
    ],
)
def test_bad_tenants_files_are_one_line_config_errors(
    tmp_path: Path, text: str, message: str
) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError, match=message) as info:
        load_tenants(path)
    assert "hunter2" not in str(info.value)


# --- two tenants end to end through the CLI ---


@pytest.fixture
def two_apis() -> Iterator[tuple[Simulator, Simulator, list[str]]]:
    acme = Simulator(
        sim_config(
            users=80,
            sessions=1500,
            seed=3,
            slow_seconds=0.01,
            credentials=Credentials("acme-u", "acme-pw", "5", "acme-sec"),
        )
    )
    globex = Simulator(
        sim_config(
            users=60,
            sessions=1200,
            seed=4,
            slow_seconds=0.01,
            credentials=Credentials("globex-ops", "g-pw", "77", "g-sec"),
        )
    )
    with served(acme, globex) as urls:
        yield acme, globex, urls


def _env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("PREFECT_API_URL", "SESSION_AUDIT_TENANTS", "SESSION_AUDIT_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    for name, number in FAST.items():
        monkeypatch.setenv(f"SESSION_AUDIT_{name.upper()}", str(number))
    monkeypatch.setenv("SESSION_AUDIT_CHECKPOINT_IDS", "400")
    for key, value in {
        "ACME_USER": "acme-u",
        "ACME_PASSWORD": "acme-pw",
        "ACME_CID": "5",
        "ACME_SECRET": "acme-sec",
        "GLOBEX_PASSWORD": "g-pw",
        "GLOBEX_SECRET": "g-sec",
    }.items():
        monkeypatch.setenv(key, value)


def _org_only(db: Path, org: str, out: Path) -> Path:
    """A copy of ``db`` holding one org's sessions, for ``assert_db_equals_truth``."""
    with duckdb.connect(str(out)) as conn:
        conn.execute("ATTACH ? AS src (READ_ONLY)", [str(db)])
        for table in ("user_sessions", "rejected_sessions", "ingest_state"):
            conn.execute(f"CREATE TABLE {table} AS SELECT * FROM src.{table} WHERE org = ?", [org])
    return out


@pytest.mark.parametrize("executor", ["inline", "threads"])
def test_two_tenants_get_truth_in_one_db_distinguished_by_org(
    two_apis: tuple[Simulator, Simulator, list[str]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    executor: str,
) -> None:
    acme, globex, urls = two_apis
    _env(monkeypatch)
    tenants = _write(tmp_path, _toml(acme.table.ids[0], globex.table.ids[0], urls))
    db = tmp_path / "all.duckdb"
    lake = tmp_path / "lake"
    argv = [
        "ingest",
        "--tenants",
        str(tenants),
        "--db",
        str(db),
        "--no-progress",
        "--executor",
        executor,
        "--lake",
        str(lake),
    ]
    assert run_app(argv) == 0
    out = capsys.readouterr().out
    assert "(acme): completed" in out and "(globex): completed" in out
    for secret in ("acme-pw", "acme-sec", "g-pw", "g-sec"):
        assert secret not in out
    assert_db_equals_truth(acme, _org_only(db, "acme", tmp_path / "acme.duckdb"))
    assert_db_equals_truth(globex, _org_only(db, "globex", tmp_path / "globex.duckdb"))
    with duckdb.connect(str(db), read_only=True) as conn:
        cursors = dict(conn.execute("SELECT org, next_id FROM ingest_state").fetchall())
        runs = conn.execute("SELECT org, status FROM ingest_runs ORDER BY run_id").fetchall()
        stored = " ".join(str(r) for r in conn.execute("SELECT * FROM ingest_runs").fetchall())
        lake_orgs = dict(
            conn.execute(
                "SELECT org, count(*) FROM read_parquet(?, hive_partitioning = true) GROUP BY org",
                [f"{lake}/**/*.parquet"],
            ).fetchall()
        )
        db_orgs = dict(
            conn.execute("SELECT org, count(*) FROM user_sessions GROUP BY org").fetchall()
        )
    assert acme.max_session_id is not None and globex.max_session_id is not None
    assert cursors == {"acme": acme.max_session_id + 1, "globex": globex.max_session_id + 1}
    assert runs == [("acme", "completed"), ("globex", "completed")]
    assert "acme-pw" not in stored and "g-sec" not in stored
    assert lake_orgs == db_orgs  # the lake mirrors both tenants

    # a second pass (each tenant rescans from its start_id): nothing changes but the one session
    # each tenant's new login opened
    assert run_app(argv[:-2]) == 0
    with duckdb.connect(str(db), read_only=True) as conn:
        changed = conn.execute(
            "SELECT sum(inserted), sum(updated) FROM ingest_runs WHERE run_id > 2"
        ).fetchone()
    assert changed == (2, 0)


def test_a_missing_tenant_env_var_fails_before_any_run(
    two_apis: tuple[Simulator, Simulator, list[str]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _env(monkeypatch)
    monkeypatch.delenv("GLOBEX_SECRET")
    tenants = _write(tmp_path, _toml(1, 1))
    monkeypatch.setenv("SESSION_AUDIT_TENANTS", str(tenants))  # the setting works too
    db = tmp_path / "all.duckdb"
    assert run_app(["ingest", "--db", str(db), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "GLOBEX_SECRET" in err and len(err.strip().splitlines()) == 1
    assert not db.exists()  # no tenant ran


def test_tenants_exclude_per_run_flags(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _env(monkeypatch)
    tenants = _write(tmp_path, _toml(1, 1))
    code = run_app(
        ["ingest", "--tenants", str(tenants), "--org", "x", "--db", str(tmp_path / "d.duckdb")]
    )
    assert code == 2
    assert "--org cannot be combined with --tenants" in capsys.readouterr().err


def test_a_failing_tenant_does_not_stop_the_others(
    two_apis: tuple[Simulator, Simulator, list[str]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    acme, globex, urls = two_apis
    _env(monkeypatch)
    monkeypatch.setenv("ACME_PASSWORD", "wrong-password")
    tenants = _write(tmp_path, _toml(acme.table.ids[0], globex.table.ids[0], urls))
    db = tmp_path / "all.duckdb"
    assert run_app(["ingest", "--tenants", str(tenants), "--db", str(db), "--no-progress"]) == 1
    captured = capsys.readouterr()
    assert "tenant acme" in captured.err and "wrong-password" not in captured.err
    assert "(globex): completed" in captured.out
    assert_db_equals_truth(globex, _org_only(db, "globex", tmp_path / "globex.duckdb"))
