"""Prefect's environment, prepared BEFORE prefect is imported (prefect reads it at import).

Nothing here imports prefect: the plain ``session-audit ingest`` path calls
:func:`should_use_prefect` and pays no orchestration start-up when no Prefect server is configured.

What a first run on a fresh machine needs, and why:

* ``PREFECT_HOME`` under the project's data dir (``data/prefect``), unless the user chose a home
  or a server: the run leaves nothing in ``~/.prefect`` and works with an empty or read-only HOME.
* ``PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS=120``: the ephemeral server takes 13-27 s to
  start here; prefect's default of 20 s fails a first run.
* ``PREFECT_SERVER_ANALYTICS_ENABLED=false`` and ``DO_NOT_TRACK=1``: the server's telemetry service
  reaches for sens-o-matic.prefect.io at start-up (an ERROR line with no network) and the SDK
  emits onboarding events in interactive terminals.
* ``PREFECT_TELEMETRY_ENABLE_RESOURCE_METRICS=false``: no OS metric collection in flow runs.
* quiet console (``quiet=True``, one-shot commands): Prefect's console handler shows nothing, so
  our own progress lines replace one INFO line per task run and a failure ends in our one-line
  error instead of Prefect's traceback; the run's logs still go to the Prefect API (UI, CLI).

Values the user set in the environment always win: this only fills in what is missing.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from pathlib import Path

#: Always-sensible defaults (filled in only when the user did not set them).
BASE_DEFAULTS: Mapping[str, str] = {
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "DO_NOT_TRACK": "1",
    "PREFECT_TELEMETRY_ENABLE_RESOURCE_METRICS": "false",
    "PREFECT_SERVER_UI_SHOW_PROMOTIONAL_CONTENT": "false",
}

#: Extra defaults for one-shot commands (demo, ingest through a flow): Prefect's console handler
#: silent (its records still reach the API handler); the server's own log goes to a file.
QUIET_DEFAULTS: Mapping[str, str] = {
    "PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL": "CRITICAL",
}


def should_use_prefect(env: Mapping[str, str]) -> bool:
    """True when a Prefect server is configured (``PREFECT_API_URL`` set and not empty).

    Without one, ``session-audit ingest`` runs the same steps directly and starts no server.
    """
    return bool(env.get("PREFECT_API_URL", "").strip())


def prepare_prefect_env(
    env: MutableMapping[str, str], data_dir: Path, *, quiet: bool = False
) -> dict[str, str]:
    """Fill in Prefect's settings in ``env`` (pass ``os.environ`` from the CLI edge) before prefect
    is imported. Returns the variables that were set (the user's own values are kept).

    ``PREFECT_HOME`` is ``<data_dir>/prefect`` unless the user set ``PREFECT_HOME`` or
    ``PREFECT_API_URL`` (then their Prefect setup is theirs).
    """
    wanted: dict[str, str] = dict(BASE_DEFAULTS)
    if quiet:
        wanted.update(QUIET_DEFAULTS)
    if not env.get("PREFECT_HOME") and not should_use_prefect(env):
        home = (data_dir / "prefect").resolve()
        home.mkdir(parents=True, exist_ok=True)
        wanted["PREFECT_HOME"] = str(home)
    applied = {key: value for key, value in wanted.items() if key not in env}
    env.update(applied)
    return applied
