"""Settings: env prefix, CLI overrides, secrets masked, bad values a ConfigError."""

from __future__ import annotations

from pathlib import Path

import pytest

from session_audit.errors import ConfigError
from session_audit.settings import DEMO_BASE_URL, load_settings


def test_defaults_suit_the_real_api(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    settings = load_settings()
    assert settings.base_url == DEMO_BASE_URL
    assert settings.requests_per_hour < 5000
    assert settings.db == Path("data/sessions.duckdb")


def test_env_prefix_and_overrides(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SESSION_AUDIT_BATCH_SIZE", "42")
    monkeypatch.setenv("SESSION_AUDIT_PASSWORD", "hunter2")
    monkeypatch.setenv("SESSION_AUDIT_CONCURRENCY", "3")
    settings = load_settings(concurrency=7)
    assert settings.batch_size == 42
    assert settings.concurrency == 7
    assert settings.password.get_secret_value() == "hunter2"
    assert "hunter2" not in repr(settings)
    assert "hunter2" not in str(settings.redacted())


def test_dotenv_file_is_read(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("SESSION_AUDIT_USERNAME=alice\n")
    assert load_settings().username == "alice"


def test_bad_value_is_a_one_line_config_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SESSION_AUDIT_BATCH_SIZE", "lots")
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert "batch_size" in str(info.value)
    assert "\n" not in str(info.value)


def test_settings_are_frozen(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    settings = load_settings()
    with pytest.raises(Exception):  # noqa: B017 - pydantic raises ValidationError on frozen
        settings.batch_size = 5  # type: ignore[misc]
    assert settings.with_overrides(batch_size=5).batch_size == 5
    with pytest.raises(ConfigError):
        settings.with_overrides(base_url="ftp://x")


@pytest.mark.parametrize(
    ("env", "value"),
    [
        ("REQUESTS_PER_SECOND", "inf"),
        ("REQUESTS_PER_SECOND", "nan"),
        ("REQUESTS_PER_SECOND", "-Infinity"),
        ("REQUESTS_PER_SECOND", "1e400"),
        ("REQUESTS_PER_SECOND", "1e12"),
        ("REQUESTS_PER_HOUR", "1000000000000"),
        ("LOCK_TIMEOUT", "inf"),
        ("LOCK_TIMEOUT", "1e30"),
        ("BACKOFF_BASE", "nan"),
        ("BACKOFF_CAP", "1e300"),
        ("TIMEOUT", "inf"),
        ("RENEW_MARGIN", "1e9"),
        ("CHECKPOINT_IDS", "100000000000"),
        ("GAP_TOLERANCE", "100000000000"),
    ],
)
def test_non_finite_and_absurd_numbers_are_one_line_config_errors(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, env: str, value: str
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(f"SESSION_AUDIT_{env}", value)
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert env.lower() in str(info.value)
    assert "\n" not in str(info.value)


def test_bounds_leave_room_for_tests_and_benchmarks(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    settings = load_settings(
        requests_per_hour=10_000_000, requests_per_second=100_000, lock_timeout=3600
    )
    assert settings.requests_per_second == 100_000
    with pytest.raises(ConfigError, match="finite"):
        settings.with_overrides(timeout=float("inf"))
