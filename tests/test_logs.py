"""Logging configured in one place: levels, text or one JSON object per line, run context."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import orjson
import pytest

from session_audit import logs


@pytest.fixture(autouse=True)
def _restore() -> Iterator[None]:
    yield None
    logs.restore_logging()


def test_json_lines_carry_the_bound_run_and_org() -> None:
    out = io.StringIO()
    logs.configure_logging("info", "json", stream=out)
    log = logging.getLogger("session_audit.ingest")
    log.debug("not shown at info")
    with logs.log_context(run_id=7, org="acme"):
        log.info("checkpoint %d stored", 3)
    token = logs.bind(org="beta")
    try:
        log.warning("outside a run", extra={"run_id": 8})
    finally:
        logs.unbind(token)
    log.error("failed", exc_info=ValueError("bad value\nsecond line"))
    lines = [orjson.loads(line) for line in out.getvalue().splitlines()]
    assert [line["message"] for line in lines] == ["checkpoint 3 stored", "outside a run", "failed"]
    assert (lines[0]["run_id"], lines[0]["org"], lines[0]["level"]) == (7, "acme", "info")
    assert (lines[1]["run_id"], lines[1]["org"]) == (8, "beta")
    assert "run_id" not in lines[2] and "org" not in lines[2]
    assert lines[2]["error"] == "ValueError: bad value"  # one line, never a traceback
    assert all(line["logger"] == "session_audit.ingest" and "time" in line for line in lines)


def test_text_lines_and_a_second_configuration_replaces_the_first() -> None:
    first, second = io.StringIO(), io.StringIO()
    logs.configure_logging("debug", "text", stream=first)
    logs.configure_logging("warning", "text", stream=second)
    log = logging.getLogger("session_audit.api")
    log.info("hidden")
    with logs.log_context(org="acme"):
        log.warning("throttled")
    assert first.getvalue() == ""
    assert second.getvalue() == "WARNING session_audit.api: throttled [org=acme]\n"


def test_restore_leaves_logging_as_it_was() -> None:
    logger = logging.getLogger(logs.LOGGER)
    before = (logger.level, list(logger.handlers))
    logs.configure_logging("debug", "json", stream=io.StringIO())
    assert logger.level == logging.DEBUG
    logs.restore_logging()
    assert (logger.level, list(logger.handlers)) == before


def test_unknown_level_or_format_is_refused() -> None:
    with pytest.raises(ValueError, match="log level"):
        logs.configure_logging("loud", "text")
    with pytest.raises(ValueError, match="log format"):
        logs.configure_logging("info", "xml")
