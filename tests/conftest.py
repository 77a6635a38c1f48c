"""Fixtures shared by several test modules.

Nothing here imports prefect at collection: tests that start no Prefect server stay fast.
"""

from __future__ import annotations

from collections.abc import Iterator

import duckdb
import pytest


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[None]:
    """The one Prefect test server of the test session (tests/test_flows.py,
    tests/test_dask_prefect.py)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture
def conn() -> Iterator[duckdb.DuckDBPyConnection]:
    """An in-memory database at the current schema (a module may define its own ``conn``)."""
    from session_audit.db.connection import connect
    from session_audit.db.migrations import migrate

    connection = connect(":memory:")
    migrate(connection)
    yield connection
    connection.close()
