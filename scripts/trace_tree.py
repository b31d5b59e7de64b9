"""Print one trace as a tree (span, service, duration, links) from the spans the `console` exporter wrote.

With `OTEL_TRACES_EXPORTER=console` every stagegate process writes each finished span as one JSON line next to
its log lines (`just up` keeps them in .state/logs/*.log). This reads any such files and prints the trace of a
workflow run, or the latest trace:

    uv run python scripts/trace_tree.py .state/logs/*.log --workflow-id stagegate-signal-...
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

# Attributes that name the run a span belongs to (Temporal's interceptor, our callback server).
_WORKFLOW_ATTRIBUTES = ("temporalWorkflowID", "stagegate.workflow_id")


@dataclass(frozen=True)
class Span:
    """The parts of an exported span the tree needs."""

    trace_id: str
    span_id: str
    parent_id: str | None
    name: str
    kind: str
    service: str
    start: datetime
    end: datetime
    attributes: dict[str, Any]
    links: tuple[str, ...]

    @property
    def millis(self) -> float:
        """Duration in milliseconds."""
        return (self.end - self.start).total_seconds() * 1000


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def parse_span(line: str) -> Span | None:
    """A span from one console-exporter line; None for anything else (log lines)."""
    line = line.strip()
    if not line.startswith("{"):
        return None
    try:
        raw = json.loads(line)
    except json.JSONDecodeError:
        return None
    context = raw.get("context") if isinstance(raw, dict) else None
    if not isinstance(context, dict) or "span_id" not in context or "start_time" not in raw:
        return None
    return Span(
        trace_id=context["trace_id"],
        span_id=context["span_id"],
        parent_id=raw.get("parent_id"),
        name=raw["name"],
        kind=str(raw.get("kind", "")).removeprefix("SpanKind."),
        service=str(raw.get("resource", {}).get("attributes", {}).get("service.name", "?")),
        start=_time(raw["start_time"]),
        end=_time(raw["end_time"]),
        attributes=raw.get("attributes") or {},
        links=tuple(link["context"]["span_id"] for link in raw.get("links") or []),
    )


def read_spans(lines: Iterable[str]) -> list[Span]:
    """Every span among `lines`, once each (a span exported twice counts once)."""
    seen: dict[tuple[str, str], Span] = {}
    for line in lines:
        span = parse_span(line)
        if span is not None:
            seen.setdefault((span.trace_id, span.span_id), span)
    return list(seen.values())


def pick_trace(spans: list[Span], workflow_id: str | None) -> str | None:
    """The trace of `workflow_id` (its earliest span's), else the trace whose first span started last."""
    if workflow_id is not None:
        named = [s for s in spans if any(s.attributes.get(a) == workflow_id for a in _WORKFLOW_ATTRIBUTES)]
        return min(named, key=lambda s: s.start).trace_id if named else None
    firsts: dict[str, datetime] = {}
    for span in spans:
        firsts[span.trace_id] = min(firsts.get(span.trace_id, span.start), span.start)
    return max(firsts, key=lambda t: firsts[t]) if firsts else None


def render(spans: list[Span], trace_id: str) -> Iterator[str]:
    """The trace as indented lines: children under parents in start order; spans whose parent is missing as roots."""
    mine = sorted((s for s in spans if s.trace_id == trace_id), key=lambda s: s.start)
    by_id = {s.span_id: s for s in mine}
    children: dict[str | None, list[Span]] = {}
    for span in mine:
        parent = span.parent_id if span.parent_id in by_id else None
        children.setdefault(parent, []).append(span)
    services = sorted({s.service for s in mine})
    yield f"trace {trace_id}: {len(mine)} spans from {', '.join(services)}"

    def walk(span: Span, prefix: str, last: bool, root: bool) -> Iterator[str]:
        branch = "" if root else ("└─ " if last else "├─ ")
        links = [by_id[link].name if link in by_id else link for link in span.links]
        linked = f"  (link → {', '.join(links)})" if links else ""
        offset = (span.start - mine[0].start).total_seconds() * 1000
        yield (
            f"{prefix}{branch}{span.name}  [{span.service}, {span.kind.lower()}]"
            f"  +{offset:.1f} ms, {span.millis:.1f} ms{linked}"
        )
        kids = children.get(span.span_id, [])
        inner = prefix + ("" if root else ("   " if last else "│  "))
        for i, kid in enumerate(kids):
            yield from walk(kid, inner, i == len(kids) - 1, False)

    for root in children.get(None, []):
        yield from walk(root, "", True, True)


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+", type=Path, help="process logs / files holding console-exporter spans")
    parser.add_argument("--workflow-id", help="show the trace of this workflow run (default: the latest trace)")
    args = parser.parse_args(argv)
    lines: list[str] = []
    for path in args.files:
        try:
            lines += path.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError as err:
            print(f"trace_tree: cannot read {path}: {err.strerror}", file=sys.stderr)
            return 1
    spans = read_spans(lines)
    trace_id = pick_trace(spans, args.workflow_id)
    if trace_id is None:
        what = f"for workflow {args.workflow_id!r}" if args.workflow_id else "at all"
        print(f"trace_tree: no spans {what} (run with OTEL_TRACES_EXPORTER=console)", file=sys.stderr)
        return 1
    for line in render(spans, trace_id):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
