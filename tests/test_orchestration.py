"""Orchestration helpers as plain functions: no Prefect server is started here."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from session_audit.api.counters import RunCounters
from session_audit.errors import (
    ApiError,
    ConfigError,
    DatabaseLockedError,
    MigrationError,
    RateLimitedError,
    SessionAuditError,
    StorageError,
)
from session_audit.ingest.counts import LedgerCounts
from session_audit.ingest.runner import IdSource, IngestSummary
from session_audit.orchestration import prepare_prefect_env, should_use_prefect
from session_audit.orchestration.artifacts import artifact_key, count_rows, summary_markdown
from session_audit.orchestration.ingest_flow import flow_parameters
from session_audit.scale.executors import ExecutionPlan
from session_audit.settings import Settings
from support import sim_config


def test_should_use_prefect_false_without_api_url() -> None:
    assert should_use_prefect({}) is False
    assert should_use_prefect({"PREFECT_API_URL": ""}) is False
    assert should_use_prefect({"PREFECT_API_URL": "   "}) is False
    assert should_use_prefect({"PREFECT_HOME": "/tmp/x"}) is False


def test_should_use_prefect_true_with_api_url() -> None:
    assert should_use_prefect({"PREFECT_API_URL": "http://127.0.0.1:4200/api"}) is True


def test_plain_ingest_path_does_not_import_prefect() -> None:
    code = (
        "import sys\n"
        "import session_audit.cli\n"
        "from session_audit.orchestration import should_use_prefect\n"
        "should_use_prefect({})\n"
        "import session_audit.ingest.runner\n"
        "print('prefect' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "False"


def test_prepare_env_puts_prefect_home_under_data_dir(tmp_path: Path) -> None:
    env: dict[str, str] = {}
    applied = prepare_prefect_env(env, tmp_path / "data")
    home = tmp_path / "data" / "prefect"
    assert env["PREFECT_HOME"] == str(home.resolve())
    assert home.is_dir()
    assert int(env["PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"]) >= 60
    assert env["PREFECT_SERVER_ANALYTICS_ENABLED"] == "false"
    assert env["DO_NOT_TRACK"] == "1"
    assert applied["PREFECT_HOME"] == env["PREFECT_HOME"]
    assert "PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL" not in env


def test_prepare_env_quiet_silences_prefect_console(tmp_path: Path) -> None:
    env: dict[str, str] = {}
    prepare_prefect_env(env, tmp_path, quiet=True)
    assert env["PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL"] == "CRITICAL"


def test_prepare_env_keeps_user_choices(tmp_path: Path) -> None:
    env = {"PREFECT_HOME": "/srv/prefect", "PREFECT_SERVER_ANALYTICS_ENABLED": "true"}
    applied = prepare_prefect_env(env, tmp_path)
    assert env["PREFECT_HOME"] == "/srv/prefect"
    assert env["PREFECT_SERVER_ANALYTICS_ENABLED"] == "true"
    assert "PREFECT_HOME" not in applied
    assert not (tmp_path / "prefect").exists()


def test_prepare_env_leaves_home_alone_with_a_configured_server(tmp_path: Path) -> None:
    env = {"PREFECT_API_URL": "http://prefect.internal:4200/api"}
    prepare_prefect_env(env, tmp_path)
    assert "PREFECT_HOME" not in env
    assert env["PREFECT_API_URL"] == "http://prefect.internal:4200/api"


@pytest.mark.parametrize(
    ("exc", "retry"),
    [
        (StorageError("disk full"), True),
        (DatabaseLockedError("held by pid 1"), False),
        (MigrationError("too new"), False),
        (ApiError("gave up", status=500), False),
        (RateLimitedError("429"), False),
        (ConfigError("bad flag"), False),
        (RuntimeError("boom"), False),
        (None, False),
    ],
)
def test_task_retries_only_whole_task_storage_failures(
    exc: BaseException | None, retry: bool
) -> None:
    """The retry condition reads the failed state's exception."""
    from prefect.client.schemas.objects import TaskRun
    from prefect.states import Failed

    from session_audit.orchestration.tasks import _retry_condition, ingest_step

    run = TaskRun(task_key="k", dynamic_key="0")
    assert _retry_condition(ingest_step, run, Failed(data=exc)) is retry


def _summary() -> IngestSummary:
    return IngestSummary(
        run_id=7,
        org="Acme Corp",
        source="scan",
        status="completed",
        first_id=100,
        last_id=900,
        counts=LedgerCounts(
            requests=42,
            fetched=800,
            inserted=790,
            updated=3,
            unchanged=7,
            rejected=4,
            retries=3,
            bytes=1000,
        ),
        users=12,
        open_refetched=5,
        next_id=901,
        open_sessions=2,
        chunks=3,
        seconds=1.5,
        counters=RunCounters(requests=42, retries={"server": 2, "timeout": 1}, bytes_received=1000),
    )


def test_artifact_key_is_a_valid_prefect_key() -> None:
    assert artifact_key("ingest-summary", "Acme Corp") == "ingest-summary-acme-corp"
    assert artifact_key("ingest-summary", "___") == "ingest-summary-default"


def test_count_table_matches_the_ledger() -> None:
    rows = {row["count"]: row["value"] for row in count_rows(_summary())}
    assert rows["requests"] == 42
    assert rows["retries"] == 3
    assert rows["inserted"] == 790
    assert rows["rejected"] == 4
    assert rows["users"] == 12
    assert rows["open_sessions"] == 2


def test_summary_markdown_states_the_outcome_and_no_secret() -> None:
    text = summary_markdown(_summary(), db="data/x.duckdb")
    assert "Ingest run 7 (Acme Corp): completed" in text
    assert "790 new" in text and "4 rejected" in text
    assert "`data/x.duckdb`" in text
    assert "error" not in text
    failed = _summary()
    failed.status, failed.error = "failed", "server error 500"
    assert "- error: server error 500" in summary_markdown(failed, db="d")


def test_summary_round_trips_through_the_flow_result() -> None:
    summary = _summary()
    result = summary.as_dict()
    assert IngestSummary.from_dict(result) == summary
    # the flow's result keeps the ledger row's counts at the top, as it always returned them
    assert (result["inserted"], result["rejected"], result["requests"]) == (790, 4, 42)


def test_the_id_source_named_by_flow_parameters(tmp_path: Path) -> None:
    assert IdSource.of(start_id=5) == IdSource("scan", 5)
    assert IdSource.of(ids=[3, 1]) == IdSource("ids", ids=(3, 1))
    assert IdSource.of() == IdSource("scan", None)
    ids_file = tmp_path / "ids.txt"
    ids_file.write_text("9\n4\n9\n")
    assert IdSource.of(ids_file=str(ids_file)) == IdSource("ids", ids=(4, 9))
    naive = IdSource.of(since=datetime(2026, 7, 1))
    assert naive == IdSource("scan", since=datetime(2026, 7, 1, tzinfo=UTC))
    with pytest.raises(ConfigError, match="at most one"):
        IdSource.of(start_id=5, ids=[1])


def test_what_an_in_process_flow_run_is_handed_never_leaves_the_process() -> None:
    """Prefect ships a flow run's context (the flow and its closure) to Dask workers: the
    settings, credentials included, and the callbacks the caller handed over stay here."""
    import functools
    import pickle

    from session_audit.orchestration.ingest_flow import _Handed, ingest_in_flow

    settings = Settings(username="alice", password="hunter2", db=Path("d.duckdb"))
    work = functools.partial(ingest_in_flow, settings, IdSource("scan"), ExecutionPlan())
    handed = _Handed(work)
    data = pickle.dumps(handed)
    assert b"hunter2" not in data and b"alice" not in data
    assert pickle.loads(data).work is None  # noqa: S301  # the bytes pickled just above
    assert handed.work is work  # in this process, everything is there


def test_flow_parameters_are_small_and_never_secret() -> None:
    settings = Settings(
        username="alice", password="hunter2", secret="s3cr3t", cid="9", db=Path("d.duckdb")
    )
    params = flow_parameters(settings, IdSource("ids", ids=tuple(range(100_000))), ExecutionPlan())
    text = repr(params)
    for secret in ("alice", "hunter2", "s3cr3t"):
        assert secret not in text
    assert "ids" not in params and "start_id" not in params
    assert flow_parameters(settings, IdSource("scan", 11), ExecutionPlan())["start_id"] == 11
    staged = ExecutionPlan("dask", workers=3, staging_dir="/s")
    shown = flow_parameters(settings, IdSource("scan"), staged)
    assert (shown["executor"], shown["dask_workers"], shown["staging_dir"]) == ("dask", 3, "/s")
    assert "dask_address" not in shown and "executor" not in params


def test_serve_schedules_come_from_settings() -> None:
    from session_audit.orchestration.schedules import build_deployments, schedule_specs

    settings = Settings(ingest_cron="*/10 * * * *", daily_audit_cron="0 3 * * *")
    specs = schedule_specs(settings)
    assert [(s.flow, s.cron) for s in specs] == [
        ("ingest_sessions", "*/10 * * * *"),
        ("daily_audit", "0 3 * * *"),
    ]
    deployments = build_deployments(specs)
    assert [d.entrypoint for d in deployments] == [
        "flows.ingest_sessions.ingest_sessions",
        "flows.daily_audit.daily_audit",
    ]
    assert [d.schedules[0].schedule.cron for d in deployments] == ["*/10 * * * *", "0 3 * * *"]
    assert all(d.concurrency_limit == 1 for d in deployments)
    assert all(not d.parameters for d in deployments)  # settings (and secrets) come from env
    assert [s.flow for s in schedule_specs(settings, daily_audit=False)] == ["ingest_sessions"]


def test_serve_rejects_a_bad_cron() -> None:
    from session_audit.orchestration.schedules import schedule_specs

    with pytest.raises(ConfigError, match="ingest_cron"):
        schedule_specs(Settings(ingest_cron="every ten minutes"))


def test_compliance_exports_verify(tmp_path: Path) -> None:
    from session_audit.analysis.compliance import (
        COMPLIANCE_DATASETS,
        export_compliance_set,
        export_directory,
    )
    from session_audit.analysis.verify import verify_export
    from session_audit.ingest.runner import run_ingest
    from session_audit.simulator import Simulator

    sim = Simulator(sim_config(users=40, sessions=600, seed=5))
    db = tmp_path / "s.duckdb"
    settings = Settings.model_validate(
        {**sim.settings_overrides(), "db": db, "requests_per_second": 10_000}
    )
    source = IdSource("scan", start_id=sim.table.ids[0])
    summary = run_ingest(settings, source, transport=sim.transport())

    seen: list[str] = []
    out = tmp_path / "exports"
    done = export_compliance_set(db, out, on_export=lambda e: seen.append(e.dataset))
    assert len(done) == 2 * len(COMPLIANCE_DATASETS) == len(seen)
    history = {e.fmt: e for e in done if e.dataset == "login_history"}
    assert history["csv"].rows == history["parquet"].rows == summary.inserted
    for item in done:
        assert item.directory == export_directory(out, item.dataset, item.fmt)
        verify_export(item.directory)
    with pytest.raises(SessionAuditError):  # an earlier export is never silently replaced
        export_compliance_set(db, out, datasets=["shared_ips"], formats=["csv"])
    export_compliance_set(db, out, datasets=["shared_ips"], formats=["csv"], force=True)
    with pytest.raises(ConfigError, match="no database"):
        export_compliance_set(tmp_path / "missing.duckdb", out)


def test_prefect_yaml_deployments_point_at_the_flows() -> None:
    import importlib.util

    import yaml  # type: ignore[import-untyped]

    root = Path(__file__).resolve().parents[1]
    config = yaml.safe_load((root / "prefect.yaml").read_text(encoding="utf-8"))
    deployments = {d["name"]: d for d in config["deployments"]}
    assert set(deployments) == {"ingest-sessions", "daily-audit", "export-compliance"}
    defaults = Settings()
    assert deployments["ingest-sessions"]["schedules"][0]["cron"] == defaults.ingest_cron
    assert deployments["daily-audit"]["schedules"][0]["cron"] == defaults.daily_audit_cron
    for name, deployment in deployments.items():
        path, attr = deployment["entrypoint"].split(":")
        spec = importlib.util.spec_from_file_location(f"_entry_{attr}", root / path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        flow = getattr(module, attr)
        assert flow.name == attr, name
        assert deployment["work_pool"]["name"] == "session-audit"
        assert not deployment["parameters"]  # secrets and settings come from the environment
