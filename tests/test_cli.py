"""The CLI shell: every command listed, fast start-up, one-line errors for user mistakes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from session_audit.cli import run_app

COMMANDS = ("demo", "simulate", "ingest", "query", "export", "verify", "report", "serve", "check")


def test_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_app(["--help"]) == 0
    out = capsys.readouterr().out
    for name in COMMANDS:
        assert name in out


def test_importing_the_cli_loads_no_heavy_library() -> None:
    """`session-audit --help` and the plain ingest's start-up stay light: settings, polars,
    duckdb and prefect load only inside the command that uses them."""
    code = (
        "import sys, session_audit.cli; "
        "print(sorted(m for m in ('prefect', 'polars', 'duckdb', 'pydantic_settings', 'httpx')"
        " if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_a_bad_flag_is_a_usage_error_without_traceback() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "session_audit", "ingest", "--batch-size", "0"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert "--batch-size" in done.stderr


def test_version_prints_the_package_version(capsys: pytest.CaptureFixture[str]) -> None:
    from session_audit import __version__

    assert run_app(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"session-audit {__version__}"


def test_the_process_exits_with_the_commands_code_the_collector_frozen_first(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import gc
    import importlib

    app_module = importlib.import_module("session_audit.cli.app")  # the module, not the app
    calls: list[str] = []
    monkeypatch.setattr(gc, "freeze", lambda: calls.append("freeze"))
    monkeypatch.setattr(sys, "argv", ["session-audit", "ingest", "--batch-size", "0"])
    with pytest.raises(SystemExit) as exited:
        app_module.main()
    assert exited.value.code == 2 and calls == ["freeze"]
    assert "--batch-size" in capsys.readouterr().err


def _squashed(text: str) -> str:
    return " ".join(text.split())


def test_help_documents_every_exit_code_from_the_one_definition(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from session_audit.cli.ingest import EXIT_CODES

    assert run_app(["--help"]) == 0
    out = _squashed(capsys.readouterr().out)
    codes = out[out.index("Exit codes:") :]
    for code in (*EXIT_CODES.values(), 2, 143):
        assert f" {code} " in codes, code
    assert "75 rate limited" in codes and "3 incomplete scan" in codes
    assert "--log-format [text|json]" in out or "--log-format <text|json>" in out


def test_help_names_the_environment_variable_and_default_of_each_setting(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert run_app(["ingest", "--help"]) == 0
    out = _squashed(capsys.readouterr().out)
    assert "[env SESSION_AUDIT_DB; default data/sessions.duckdb]" in out
    assert "[env SESSION_AUDIT_BATCH_SIZE; default 100]" in out
    assert "[env SESSION_AUDIT_LOCK_TIMEOUT; default 0.0]" in out
    assert out.count("[env SESSION_AUDIT_GAP_TOLERANCE") == 1 and "[default 2000]" not in out
    assert run_app(["serve", "--help"]) == 0
    out = _squashed(capsys.readouterr().out)
    assert "[env SESSION_AUDIT_PREFECT_PORT; default 4200]" in out
    assert "[env SESSION_AUDIT_INGEST_CRON; default */30 * * * *]" in out


def test_a_bad_log_level_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_app(["--log-level", "loud", "check"]) == 2
    assert "loud" in capsys.readouterr().err


def test_log_format_json_gives_one_object_per_line_for_a_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from support import make_sim, served, sim_env

    sim = make_sim(users=10, sessions=120, seed=3)
    with served(sim) as (url,):
        for key, value in sim_env(sim, url, tmp_path / "s.duckdb").items():
            monkeypatch.setenv(key, value)
        code = run_app(
            ["--log-level", "info", "--log-format", "json", "ingest", "--no-progress",
             "--start-id", str(sim.table.ids[0])]
        )  # fmt: skip
    assert code == 0
    err = capsys.readouterr().err
    records = [orjson.loads(line) for line in err.splitlines() if line.startswith("{")]
    assert records, err
    assert all({"time", "level", "logger", "message"} <= set(r) for r in records)
    assert all(r["logger"].startswith("session_audit") for r in records)
    assert sim.credentials.password not in err and sim.credentials.sec not in err


def test_a_plain_run_builds_only_its_command() -> None:
    import importlib

    app_module = importlib.import_module("session_audit.cli.app")
    names = {
        args[0] if args else "": app_module._invoked(list(args))
        for args in (["ingest", "--db", "x"], ["query", "SELECT 1"])
    }
    assert {k: v.name for k, v in names.items()} == {"ingest": "ingest", "query": "query"}
    assert app_module._invoked(["--log-level", "debug", "--log-format=json", "ingest"]).name == (
        "ingest"
    )
    for unclear in ([], ["--version"], ["findings", "evaluate"], ["nope"], ["-x", "ingest"]):
        assert app_module._invoked(unclear) is None
    command = app_module.build_command(["--log-level", "debug", "ingest", "--db", "x"])
    assert list(command.commands) == ["ingest"]
    assert len(app_module.build_command(["findings", "evaluate"]).commands) == 11


@pytest.mark.parametrize(
    "args",
    [
        ["ingest", "--batch-size", "0"],
        ["--log-level", "loud", "ingest"],
        ["query"],
        ["verify", "/nonexistent/dir"],
        ["ingest", "--start-id", "1", "--since", "2026-01-01"],
        ["nope"],
    ],
)
def test_a_command_built_alone_behaves_as_in_the_whole_app(
    args: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib

    app_module = importlib.import_module("session_audit.cli.app")
    alone = (run_app(args), capsys.readouterr())
    monkeypatch.setattr(app_module, "_invoked", lambda _args: None)
    whole = (run_app(args), capsys.readouterr())
    assert alone == whole and alone[0] != 0
