"""`cli pipeline validate|show FILE`, and what `cli start --pipeline` needs: the file read, the input parsed.

Bad files raise `PipelineError` and bad input `InputError` / `OptionError`; `cli.main` prints them as one line
and exits 2, before anything is started.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cli.consoles import out
from cli.run_options import OptionError

if TYPE_CHECKING:
    from rich.table import Table

    from app.pipeline.types import Pipeline

# The YAML and JSON Schema parsers (app.pipeline.file) are imported by the commands that read a file, not here:
# `cli --help` loads this module too.
pipeline_app = typer.Typer(
    help="Check and show pipeline files (YAML stages of HTTP calls with callbacks).", rich_markup_mode=None
)


def parse_input(text: str | None, pipeline: Pipeline) -> dict[str, Any]:
    """`--input '{...}'` or `--input @file.json`; without it, the file's example (or {}). Checked against the file."""
    if text is None:
        value: Any = dict(pipeline.input_example or {})
    else:
        raw = text
        if text.startswith("@"):
            try:
                raw = Path(text[1:]).read_text()
            except OSError as exc:
                raise OptionError(f"--input {text}: cannot read the file: {exc.strerror or exc}") from None
        try:
            value = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise OptionError(f"--input is not valid JSON: {exc}") from None
    from app.pipeline.file import check_input

    check_input(pipeline, value)  # InputError: the input does not fit
    result: dict[str, Any] = value
    return result


@pipeline_app.command()
def validate(
    file: Annotated[Path, typer.Argument(help="The pipeline file (YAML).")],
    input_: Annotated[
        str | None, typer.Option("--input", "-i", help="Also check this run input: JSON, or @file.json.")
    ] = None,
) -> None:
    """Check a pipeline file (and optionally a run input); one line naming file, line, stage and field if not.

    Also warns (on stderr; the exit code stays 0) about requests this shell's egress settings would refuse:
    hosts off STAGEGATE_EGRESS_HOSTS and `${env...}` values not bound to their host. The worker's own
    environment is what counts when the stages run.
    """
    from app.pipeline.egress import EgressPolicy, pipeline_warnings
    from app.pipeline.file import load_pipeline
    from app.runtime.config import load_settings

    pipeline = load_pipeline(file)
    if input_ is not None:
        parse_input(input_, pipeline)
    settings = load_settings()
    for warning in pipeline_warnings(pipeline, EgressPolicy.from_settings(settings), settings.pipeline_env):
        typer.echo(f"warning: {file}: {warning}", err=True)
    stages = " -> ".join(s.name for s in pipeline.stages)
    out().print(
        f"ok: {file}: pipeline {pipeline.name!r} (version {pipeline.version}), {len(pipeline.stages)} stage(s): "
        f"{stages}",
        markup=False,
        highlight=False,
    )


@pipeline_app.command()
def show(
    file: Annotated[Path, typer.Argument(help="The pipeline file (YAML).")],
    as_json: Annotated[
        bool, typer.Option("--json", help="The validated definition as JSON (what a run carries).")
    ] = False,
) -> None:
    """Show a pipeline's stages as a table: request, mode, timeout, on failure, answer id, status URL, uses."""
    from app.pipeline.file import load_pipeline

    pipeline = load_pipeline(file)
    if as_json:
        print(json.dumps(asdict(pipeline), indent=2))
        return
    out().print(pipeline_table(pipeline))
    if pipeline.input_example is not None:
        out().print(f"input example: {json.dumps(pipeline.input_example)}", markup=False, highlight=False)
    out().print(f"sha256: {pipeline.digest}", markup=False, highlight=False)


def pipeline_table(pipeline: Pipeline) -> Table:
    """One row per stage."""
    from rich.table import Table
    from rich.text import Text

    title = f"pipeline {pipeline.name} (version {pipeline.version}, {pipeline.source})"
    if pipeline.description:
        title += f"\n{pipeline.description}"
    table = Table(title=title, title_justify="left")
    for column in ("#", "stage", "request", "mode", "timeout", "on failure", "answer id", "status", "uses"):
        table.add_column(column, justify="right" if column in ("#", "timeout") else "left", overflow="fold")
    for number, spec in enumerate(pipeline.stages, start=1):
        table.add_row(
            str(number),
            spec.name,
            Text(f"{spec.request.method} {spec.request.url}"),
            spec.mode.value if spec.mode else "(run's)",
            f"{spec.timeout_seconds:g}s",
            spec.on_failure.value,
            spec.answer_id or "-",
            Text(f"GET {spec.status.url}") if spec.status else "-",
            ", ".join(spec.uses_stages) or "-",
        )
    return table
