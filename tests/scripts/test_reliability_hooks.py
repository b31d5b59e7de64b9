"""The `/hooks/*` reliability row (scripts/reliability/hooks.py): its pipeline waits on the fixed endpoint, its judge
tells "completed once with its own intent's event" and "each event delivered once" from anything else, a 503
without Retry-After counts as a 5xx, and (slow) a small real run ends with 0 lost / 0 double / 0 5xx / 0 open.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from typing import Any

import pytest
from temporalio.client import WorkflowHandle

from app.gate.hook_types import DeliveryLog, MailboxStatus
from app.gate.types import Mode, Outcome, StageRecord
from app.pipeline.types import PipelineResult
from scripts.reliability.hook_vendor import HookVendor, Intent, Plan
from scripts.reliability.hooks import SOURCE, STAGES, Options, five_xx, judge, mailbox_problem, pipeline, stage_problem
from tests.stack import ROOT

RUN = "stagegate-pipeline-hooks-row-abc"


def _record(stage: str, result: dict[str, Any] | None, outcome: Outcome = Outcome.COMPLETED) -> StageRecord:
    return StageRecord(stage=stage, mode=Mode.SIGNAL, outcome=outcome, result=result)


def _intent(intent_id: str, status: str = "succeeded") -> dict[str, Any]:
    return {"id": intent_id, "object": "payment_intent", "status": status, "metadata": {"run": RUN}}


def _mailbox(key: str, *log: DeliveryLog) -> MailboxStatus:
    return MailboxStatus(
        source=SOURCE, key=key, waiter=None, pending_events=[], queued_events=[], log=list(log), dropped=0, runs=1
    )


def test_the_pipeline_waits_on_the_fixed_endpoint_with_the_intents_id() -> None:
    flow = pipeline("http://127.0.0.1:9")
    assert [s.name for s in flow.stages] == list(STAGES)
    for spec in flow.stages:
        assert spec.wait is not None
        assert spec.wait.source == SOURCE
        assert spec.callback is not None
        assert spec.callback.progress  # processing events are progress, not outcomes


def test_a_stage_counts_only_with_the_succeeded_event_of_one_of_its_own_intents() -> None:
    jobs = ["pi_1", "pi_2"]  # a retried request made a second intent
    assert stage_problem(_record("charge", _intent("pi_1")), jobs) is None
    assert stage_problem(_record("charge", _intent("pi_2")), jobs) is None
    other = stage_problem(_record("charge", _intent("pi_9")), jobs)
    assert other is not None
    assert "not one of its own" in other
    processing = stage_problem(_record("charge", _intent("pi_1", "processing")), jobs)  # advanced by a progress event
    assert processing is not None
    assert "processing" in processing
    timed_out = stage_problem(_record("charge", _intent("pi_1"), Outcome.TIMED_OUT), jobs)
    assert timed_out is not None
    assert timed_out.startswith("outcome timed_out")


def test_a_mailbox_that_delivered_an_event_id_twice_is_a_double_advance() -> None:
    once = _mailbox(
        "pi_1",
        DeliveryLog("evt_a", "delivered", "progress"),
        DeliveryLog("evt_b", "delivered", "accepted"),
        DeliveryLog("evt_b", "duplicate"),  # a repeat answered as such: fine
        DeliveryLog("evt_a", "duplicate"),
    )
    assert mailbox_problem(once) is None
    twice = _mailbox("pi_1", DeliveryLog("evt_b", "delivered", "accepted"), DeliveryLog("evt_b", "delivered", "dup"))
    assert "['evt_b'] delivered more than once" in (mailbox_problem(twice) or "")


def _handle(workflow_id: str) -> WorkflowHandle[object, PipelineResult]:
    return WorkflowHandle(client=None, id=workflow_id)  # type: ignore[arg-type]  # only .id is read


def test_the_judge_counts_lost_runs_and_double_advanced_runs_once_each() -> None:
    vendor = HookVendor("whsec_x")
    for intent_id, run, stage in [("pi_1", "r1", "charge"), ("pi_2", "r1", "refill"), ("pi_3", "r2", "charge")]:
        vendor.intents[intent_id] = Intent(intent_id, run, stage, Plan.ON_TIME)
    good = PipelineResult(
        "hooks-row", Mode.SIGNAL, [_record("charge", _intent("pi_1")), _record("refill", _intent("pi_2"))], "", ""
    )
    wrong = PipelineResult(
        "hooks-row", Mode.SIGNAL, [_record("charge", _intent("pi_3")), _record("refill", _intent("pi_3"))], "", ""
    )
    doubled = _mailbox("pi_1", DeliveryLog("evt_b", "delivered", "accepted"), DeliveryLog("evt_b", "delivered", "x"))
    verdict = judge(
        [_handle("r1"), _handle("r2"), _handle("r3")], [good, wrong, "not closed in time"], vendor.jobs_of, []
    )
    assert (verdict.tally.completed, verdict.tally.lost, verdict.tally.double_advanced) == (2, 1, 1)
    with_mailbox = judge([_handle("r1")], [good], vendor.jobs_of, [doubled])
    assert with_mailbox.tally.double_advanced == 1
    assert with_mailbox.problems


def test_a_503_without_retry_after_counts_as_a_5xx_and_with_it_does_not() -> None:
    vendor = HookVendor("whsec_x")
    vendor.answers.update({200: 10, 503: 4})
    assert five_xx(vendor) == {503: 4}  # the row's Row.five_xx leaves 503 out
    vendor.bare_503 = 1
    assert five_xx(vendor) == {500: 1, 503: 3}


def test_the_command_names_each_fault_and_only_its_own_options() -> None:
    opts = Options(("kills", "deliveries"), 6, 4, 60.0, 180.0, 2)
    assert opts.command == "just reliability-row hooks --fault kills --fault deliveries --runs 6 --seed 2 --kills 4"


@pytest.mark.slow
@pytest.mark.integration
def test_a_small_real_run_loses_nothing_and_leaves_no_mailbox_open() -> None:
    """Dev server, stack, vendor: the deliveries phase alone, 3 runs (one per mode; about 2 minutes)."""
    proc = subprocess.Popen(  # our own script
        [sys.executable, "-m", "scripts.reliability.hooks", "--fault", "deliveries", "--runs", "3"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        out, _ = proc.communicate(timeout=400)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
        pytest.fail(f"the row did not finish in time:\n{out[-3000:]}")
    assert proc.returncode == 0, out[-3000:]
    doc = json.loads(out[out.index("{\n") : out.rindex("\n}") + 2])
    assert (doc["tally"]["lost"], doc["tally"]["double_advanced"], doc["five_xx"]) == (0, 0, 0)
    assert "open mailboxes at the end: 0" in doc["notes"]
