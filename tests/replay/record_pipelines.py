"""Record pipeline-run histories for `tests/replay/test_pipeline_replay.py`: real runs of the example files.

    uv run python -m tests.replay.record_pipelines --tag p1   (or `just histories-pipelines --tag p1`)

Starts its own dev server and the stack (service mock, callback server, worker), runs each scenario (the two
example pipelines in every mode, a stage that fails with `on_failure: continue`, a lost callback reconciled
from a status URL), and writes each closed run's history as `<out>/<tag>-<scenario>.json`. Everything it
started is stopped again. A changed PipelineWorkflow records under a new tag; old tags stay and must replay.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from temporalio.client import Client, WorkflowFailureError
from temporalio.testing import WorkflowEnvironment

from app.gate import search_attributes
from app.gate.hook_types import DEFAULT_SETTLE_SECONDS, mailbox_id
from app.gate.types import AdvancedBy, Mode, Outcome
from app.pipeline.file import load_pipeline, parse_pipeline
from app.pipeline.types import Pipeline, PipelineRunInput
from app.starter import start_pipeline_run
from tests.asgi import serving
from tests.replay.layout import MAILBOX_HISTORY_DIR, PIPELINE_HISTORY_DIR, history_file_name, workflow_id_for
from tests.replay.recorder_entry import run_recorder
from tests.stack import ROOT, find_temporal_cli, start_stack
from tests.vendors.common import Deliveries
from tests.vendors.serve import HOOK_ENV
from tests.vendors.serve import create_app as create_vendors

RUN_TIMEOUT = 60.0
QUICK = {"time_to_request": 0.1, "time_to_callback": 0.2, "action": "complete"}

GOES_ON = """
version: 1
name: goes-on
stages:
  - name: flaky
    on_failure: continue
    request:
      url: "${env.SERVICE_URL}/request"
      body: {callback_url: "${callback_url}", time_to_request: 0.1, time_to_callback: 0.2, action: fail}
  - name: after
    request:
      url: "${env.SERVICE_URL}/request"
      body: {callback_url: "${callback_url}", time_to_request: 0.1, time_to_callback: 0.2,
             payload: {before: "${stages.flaky.outcome}"}}
"""

LOST = """
version: 1
name: lost
stages:
  - name: lost
    timeout: 2
    request:
      url: "${env.SERVICE_URL}/request"
      body: {callback_url: "${callback_url}", idempotency_key: "${idempotency_key}", time_to_request: 0.1,
             time_to_callback: 0.2, lose_callbacks: true}
    status:
      url: "${env.SERVICE_URL}/jobs?idempotency_key=${idempotency_key}"
      callback_at: 0.final
"""


@dataclass(frozen=True)
class Scenario:
    """One recorded run and the outcomes its stages must end with."""

    name: str
    pipeline: Pipeline
    inp: dict[str, Any]
    mode: Mode
    outcomes: list[Outcome]
    advanced_by: AdvancedBy | None = None  # when set: how every completed stage advanced


# Since p4: a stage's callback shape, and notify-then-fetch (patch "stagegate-fetch-after-notify").
# Since p5: a stage that waits on a fixed endpoint (`wait:`), in every mode; its mailbox's history is kept too.
# p6 (`--only stripe-style-signal,stripe-style-token,stripe-style-update`): the same after patch
# "stagegate-hook-handoff-check" (token mode: the marker, a named activity ID and the hand-off check's timer).
VENDOR_FILES = ("replicate_style", "assemblyai_style", "twilio_style", "stripe_style")
FIXED_ENDPOINT_FILES = ("stripe_style",)


def scenarios() -> list[Scenario]:
    """Every recorded scenario, in recording order."""
    demo = load_pipeline(ROOT / "pipelines" / "demo.yaml")
    publish = load_pipeline(ROOT / "pipelines" / "transcode_publish.yaml")
    out = [Scenario(f"demo-{m.value}", demo, QUICK, m, [Outcome.COMPLETED] * 3) for m in Mode]
    out += [
        Scenario(f"transcode-publish-{m.value}", publish, publish.input_example or {}, m, [Outcome.COMPLETED] * 2)
        for m in Mode
    ]
    out += [
        Scenario(
            "signal-continue-after-failure",
            parse_pipeline(GOES_ON),
            {},
            Mode.SIGNAL,
            [Outcome.FAILED, Outcome.COMPLETED],
        ),
        Scenario(
            "signal-lost-callback-reconciled",
            parse_pipeline(LOST),
            {},
            Mode.SIGNAL,
            [Outcome.COMPLETED],
            AdvancedBy.RECONCILE,
        ),
    ]
    for name in VENDOR_FILES:
        vendor = load_pipeline(ROOT / "pipelines" / f"{name}.yaml")
        modes = list(Mode) if name != "twilio_style" else [Mode.SIGNAL]
        label = name.replace("_", "-")
        out += [
            Scenario(f"{label}-{m.value}", vendor, vendor.input_example or {}, m, [Outcome.COMPLETED]) for m in modes
        ]
    return out


async def record_all(tag: str, out: Path, only: frozenset[str] | None = None) -> list[Path]:
    """Start a dev server, the fake vendors and the stack, record every scenario (or the `only` ones), stop
    everything; the files."""
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=find_temporal_cli(),
        search_attributes=search_attributes.ALL,
        dev_server_log_level="error",
    )
    try:
        address = env.client.service_client.config.target_host
        with tempfile.TemporaryDirectory(prefix="stagegate-record-") as log_dir:
            vendors = create_vendors(Deliveries())
            async with serving(vendors) as vendor_url:
                stack = start_stack(
                    address,
                    Path(log_dir),
                    task_queue=f"record-{uuid.uuid4().hex[:8]}",
                    extra_env={
                        "PIPELINE_VENDOR_URL": vendor_url,
                        # Since the egress rules: the fake vendors are not the stack's service, so allow (and bind
                        # the environment to) loopback on any port, as a developer's machine would.
                        "STAGEGATE_EGRESS_HOSTS": "127.0.0.1",
                        "STAGEGATE_PIPELINE_ENV_HOSTS": "*=127.0.0.1",
                        **HOOK_ENV,
                    },
                )
                vendors.state.stripe.endpoint = f"{stack.callback_url}/hooks/pay"
                try:
                    return [
                        await _record(env.client, stack.settings.task_queue, s, tag, out)
                        for s in scenarios()
                        if only is None or s.name in only
                    ]
                except Exception:
                    for proc in stack.processes.values():
                        print(f"--- {proc.name} log tail ---\n{proc.log_tail()}", file=sys.stderr)
                    raise
                finally:
                    stack.stop()
    finally:
        await env.shutdown()


async def _record(client: Client, task_queue: str, scenario: Scenario, tag: str, out: Path) -> Path:
    handle = await start_pipeline_run(
        client,
        task_queue,
        PipelineRunInput(pipeline=scenario.pipeline, input=scenario.inp, mode=scenario.mode),
        workflow_id=workflow_id_for(tag, scenario.name),
    )
    try:
        result = await asyncio.wait_for(handle.result(), RUN_TIMEOUT)
    except WorkflowFailureError as err:
        raise RuntimeError(f"{scenario.name}: the run failed: {err.cause}") from err
    got = [s.outcome for s in result.stages]
    if got != scenario.outcomes:
        raise RuntimeError(f"{scenario.name}: stages ended {got}, expected {scenario.outcomes}")
    if scenario.advanced_by and {s.advanced_by for s in result.stages} != {scenario.advanced_by}:
        raise RuntimeError(f"{scenario.name}: advanced by {[s.advanced_by for s in result.stages]}")
    path = out / history_file_name(tag, scenario.name)
    path.write_text((await handle.fetch_history()).to_json() + "\n")
    print(f"wrote {path}", flush=True)
    if scenario.pipeline.stages[0].wait is not None:  # the key's mailbox too, once it has ended
        intent = result.stages[0].result or {}
        mailbox = client.get_workflow_handle(mailbox_id(scenario.pipeline.stages[0].wait.source, str(intent["id"])))
        await asyncio.wait_for(mailbox.result(), RUN_TIMEOUT + DEFAULT_SETTLE_SECONDS)
        mailbox_path = MAILBOX_HISTORY_DIR / history_file_name(tag, f"{scenario.name}-mailbox")
        mailbox_path.parent.mkdir(parents=True, exist_ok=True)
        mailbox_path.write_text((await mailbox.fetch_history()).to_json() + "\n")
        print(f"wrote {mailbox_path}", flush=True)
    return path


def main(argv: list[str] | None = None) -> int:
    """Entry point: `python -m tests.replay.record_pipelines`."""
    parser = argparse.ArgumentParser(prog="python -m tests.replay.record_pipelines")
    parser.add_argument("--tag", required=True, help="file name prefix: the pipeline workflow's version, e.g. p1")
    parser.add_argument("--force", action="store_true", help="re-record a tag that already has files")
    parser.add_argument("--out", type=Path, default=PIPELINE_HISTORY_DIR)
    parser.add_argument(
        "--only", default="", help="comma-separated scenario names (e.g. p6: stripe-style-signal,...); default all"
    )
    args = parser.parse_args(argv)
    only = frozenset(n.strip() for n in args.only.split(",") if n.strip()) or None
    unknown = sorted((only or frozenset()) - {s.name for s in scenarios()})
    if unknown:
        parser.error(f"unknown scenarios: {', '.join(unknown)}")
    if sorted(args.out.glob(f"{args.tag}-*.json")) and not args.force:
        parser.error(f"histories tagged {args.tag!r} exist in {args.out}; record a changed workflow under a new --tag")
    args.out.mkdir(parents=True, exist_ok=True)
    written = asyncio.run(record_all(args.tag, args.out, only))
    print(f"{len(written)} histories written to {args.out}")
    return 0


if __name__ == "__main__":
    run_recorder(main)
