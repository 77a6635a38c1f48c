"""What only Prefect needs: its environment, the ingest flow's task runs and artifacts, the
in-process ``ingest_sessions`` flow run, a local Prefect server, the served schedules.

The flows themselves are the top-level ``flows`` package (deployment entry points), which
nothing in ``session_audit`` imports. Importing this package does not import prefect
(``should_use_prefect`` and ``prepare_prefect_env`` are cheap); its modules do.
"""

from __future__ import annotations

from session_audit.orchestration.environment import prepare_prefect_env, should_use_prefect

__all__: list[str] = ["prepare_prefect_env", "should_use_prefect"]
