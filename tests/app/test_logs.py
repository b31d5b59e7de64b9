"""JSON log lines: our structlog events (written directly) and stdlib records (through the handler) alike.

The callback server writes one line per callback; structlog renders it and writes it to stderr itself, past
stdlib logging's record, handler and formatter. The line must stay what it was: the same fields in the same
order (the event's own, `event`, the bound context, `level`, `logger`, `timestamp`), the logger named as stdlib
named it, the level filter applied, a traceback rendered, and a broken stderr never failing the caller.
"""

from __future__ import annotations

import io
import json
import logging
import sys
from collections.abc import Iterator
from dataclasses import replace

import pytest
import structlog
import temporalio.activity
import temporalio.workflow

from app.runtime.config import load_settings
from app.runtime.logs import configure_logging


@pytest.fixture
def stderr() -> Iterator[io.StringIO]:
    """A buffer that `_configure` makes stderr; everything global is restored afterwards."""
    saved = structlog.get_config()
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    activity_info = temporalio.activity.logger.activity_info_on_message
    workflow_info = temporalio.workflow.logger.workflow_info_on_message
    buffer = io.StringIO()
    try:
        yield buffer
    finally:
        structlog.configure(**saved)
        root.handlers[:], root.level = handlers, level
        temporalio.activity.logger.activity_info_on_message = activity_info
        temporalio.workflow.logger.workflow_info_on_message = workflow_info
        structlog.contextvars.clear_contextvars()


def _configure(buffer: io.StringIO, level: str = "INFO") -> None:
    """Logging configured onto `buffer` as stderr (set here, in the test's body: pytest swaps stderr per phase)."""
    settings = load_settings({"LOG_FORMAT": "json", "LOG_LEVEL": level})
    real = sys.stderr
    sys.stderr = buffer
    try:
        configure_logging(replace(settings, log_level=level))
    finally:
        sys.stderr = real


def _lines(buffer: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in buffer.getvalue().splitlines()]


def test_a_structlog_event_is_the_same_line_as_before(stderr: io.StringIO) -> None:
    _configure(stderr)
    structlog.contextvars.bind_contextvars(workflow_id="wf-1", stage="2", mode="signal", attempt=1)
    structlog.get_logger("app.callbacks.server").info(
        "callback forwarded", status="completed", callback_id="c1", temporal_call="signal advance_stage", verdict=None
    )
    raw = stderr.getvalue()
    assert raw.endswith("}\n")
    assert raw.count("\n") == 1
    (line,) = _lines(stderr)
    keys = list(line)
    assert keys[:5] == ["status", "callback_id", "temporal_call", "verdict", "event"]
    assert set(keys[5:9]) == {"workflow_id", "stage", "mode", "attempt"}  # in the context's own order
    assert keys[9:] == ["level", "logger", "timestamp"]
    assert line["event"] == "callback forwarded"
    assert (line["level"], line["logger"], line["verdict"]) == ("info", "app.callbacks.server", None)
    assert str(line["timestamp"]).endswith("Z")
    # json.dumps' separators, as stdlib's formatter rendered it.
    assert raw.startswith('{"status": "completed", "callback_id": "c1"')


def test_stdlib_records_and_structlog_events_share_the_stream(stderr: io.StringIO) -> None:
    _configure(stderr)
    logging.getLogger("uvicorn.error").info("Started server process [%d]", 42)
    structlog.get_logger().warning("unnamed")  # named after the calling module, as stdlib's factory does
    first, second = _lines(stderr)
    assert (first["event"], first["level"], first["logger"]) == ("Started server process [42]", "info", "uvicorn.error")
    assert (second["event"], second["level"], second["logger"]) == ("unnamed", "warning", __name__)


def test_level_filter_and_tracebacks(stderr: io.StringIO) -> None:
    _configure(stderr, "WARNING")
    log = structlog.get_logger("app.callbacks.server")
    log.info("dropped")
    try:
        raise ValueError("boom")
    except ValueError as err:
        log.error("unexpected error in the callback server", error_type="ValueError", exc_info=err)
    (line,) = _lines(stderr)
    assert line["event"] == "unexpected error in the callback server"
    assert line["level"] == "error"
    assert "ValueError: boom" in str(line["exception"])
    assert "exc_info" not in line


def test_a_broken_stderr_never_fails_the_caller(stderr: io.StringIO) -> None:
    _configure(stderr)
    stderr.close()
    structlog.get_logger("app.callbacks.server").info("callback forwarded")  # no exception
