"""The foreign-body reliability row (scripts/reliability/foreign_bodies.py): its pipelines are valid files with
the vendors' shapes, its judge tells a stage advanced once with its own job's result from anything else, and (slow)
a small real run ends with 0 lost / 0 double / 0 5xx.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from typing import Any

import pytest

from app.gate.shapes import BodyFormat
from app.gate.types import Mode, Outcome, StageRecord
from scripts.reliability.foreign_bodies import STAGES, TWILIO_FIELDS, pipeline_for, stage_problem
from scripts.reliability.foreign_vendor import ForeignVendors, Job, Plan, Style, replicate_output, transcript_text
from tests.stack import ROOT

RUN = "stagegate-foreign-replicate-signal-abc"


@pytest.mark.parametrize("style", list(Style))
def test_each_style_is_a_valid_two_stage_pipeline_with_its_vendors_shape(style: Style) -> None:
    pipeline = pipeline_for(style, "http://127.0.0.1:9")
    assert [s.name for s in pipeline.stages] == list(STAGES)
    for spec in pipeline.stages:
        assert spec.callback is not None
        assert (spec.fetch is not None) is (style is Style.ASSEMBLY)
        assert (spec.callback.body is BodyFormat.FORM) is (style is Style.TWILIO)
        assert bool(spec.callback.progress) is (style is not Style.ASSEMBLY)


def _vendors(*jobs: Job) -> ForeignVendors:
    vendors = ForeignVendors()
    vendors.jobs = {job.id: job for job in jobs}
    return vendors


def _record(stage: str, result: dict[str, Any] | None, outcome: Outcome = Outcome.COMPLETED) -> StageRecord:
    return StageRecord(stage=stage, mode=Mode.SIGNAL, outcome=outcome, result=result)


def test_the_judge_wants_one_of_the_stages_own_jobs_results() -> None:
    mine = Job(Style.REPLICATE, "p1", RUN, "one", Plan.NORMAL, "http://cb")
    retried = Job(Style.REPLICATE, "p2", RUN, "one", Plan.NORMAL, "http://cb")  # a retried request's second job
    other_stage = Job(Style.REPLICATE, "p3", RUN, "two", Plan.NORMAL, "http://cb")
    vendors = _vendors(mine, retried, other_stage)
    assert stage_problem(_record("one", replicate_output("p1")), Style.REPLICATE, vendors, RUN) is None
    assert stage_problem(_record("one", replicate_output("p2")), Style.REPLICATE, vendors, RUN) is None
    wrong = stage_problem(_record("one", replicate_output("p3")), Style.REPLICATE, vendors, RUN)
    assert wrong is not None
    assert "none of its 2 job(s)' results" in wrong
    assert stage_problem(_record("one", None), Style.REPLICATE, vendors, RUN) is not None  # a progress event
    failed = stage_problem(_record("one", replicate_output("p1"), Outcome.TIMED_OUT), Style.REPLICATE, vendors, RUN)
    assert failed is not None
    assert failed.startswith("outcome timed_out")


def test_the_judge_reads_each_styles_result() -> None:
    transcript = Job(Style.ASSEMBLY, "t1", RUN, "one", Plan.OUT_OF_ORDER, "http://cb")
    message = Job(Style.TWILIO, "SM1", RUN, "two", Plan.DUPLICATE, "http://cb")
    vendors = _vendors(transcript, message)
    fetched = {"id": "t1", "status": "completed", "text": transcript_text("t1")}
    assert stage_problem(_record("one", fetched), Style.ASSEMBLY, vendors, RUN) is None
    assert stage_problem(_record("one", fetched | {"status": "processing"}), Style.ASSEMBLY, vendors, RUN) is not None
    delivered = TWILIO_FIELDS | {"MessageSid": "SM1"}
    assert stage_problem(_record("two", delivered), Style.TWILIO, vendors, RUN) is None
    sent = delivered | {"MessageStatus": "sent"}
    assert stage_problem(_record("two", sent), Style.TWILIO, vendors, RUN) is not None


@pytest.mark.slow  # a lab of its own, worker kills, ~1-2 min
@pytest.mark.integration
def test_a_small_row_loses_nothing_and_advances_nothing_twice() -> None:
    proc = subprocess.Popen(  # our own script with fixed arguments
        [sys.executable, "-m", "scripts.reliability.foreign_bodies", "--runs", "9", "--kills", "1"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        out, err = proc.communicate(timeout=400)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGTERM)  # the script stops what it started, by pid
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, out[-3000:] + err[-3000:]
    assert '"double_advanced": 0' in out
    assert '"lost": 0' in out
