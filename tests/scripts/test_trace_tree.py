"""scripts/trace_tree.py: spans written by our console exporter, read back from a mixed log, printed as a tree."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SimpleSpanProcessor
from opentelemetry.trace import Link

from app.runtime.tracing import Tracing, one_span_per_line
from scripts import trace_tree


def _log_with_spans() -> str:
    """A process log as `OTEL_TRACES_EXPORTER=console` leaves it: JSON log lines and one span per line."""
    out = io.StringIO()
    tracing = Tracing.create("svc", [SimpleSpanProcessor(ConsoleSpanExporter(out=out, formatter=one_span_per_line))])
    tracer = tracing.tracer()
    with tracer.start_as_current_span("root", attributes={"temporalWorkflowID": "wf-1"}):
        with tracer.start_as_current_span("child") as child:
            pass
        with tracer.start_as_current_span("second", links=[Link(child.get_span_context())]):
            pass
    with tracer.start_as_current_span("another trace"):
        pass
    tracing.shutdown()
    return '{"event": "a log line", "level": "info"}\n' + out.getvalue() + "not json at all\n"


def test_tree_of_a_workflows_trace(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log = tmp_path / "worker.log"
    log.write_text(_log_with_spans())
    assert trace_tree.main([str(log), "--workflow-id", "wf-1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].endswith("3 spans from svc")
    assert lines[1].startswith("root  [svc, internal]")
    assert lines[2].startswith("├─ child  [svc")
    assert lines[3].startswith("└─ second  [svc")
    assert lines[3].endswith("(link → child)")


def test_latest_trace_by_default_and_clear_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log = tmp_path / "cb.log"
    log.write_text(_log_with_spans())
    assert trace_tree.main([str(log)]) == 0
    assert capsys.readouterr().out.splitlines()[1].startswith("another trace")
    assert trace_tree.main([str(log), "--workflow-id", "nope"]) == 1
    assert "no spans for workflow 'nope'" in capsys.readouterr().err
    assert trace_tree.main([str(tmp_path / "missing.log")]) == 1
