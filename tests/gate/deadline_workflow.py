"""A workflow whose stages have the timeouts the test gives: the gate's one deadline timer under test (v12).

Its stage activity does nothing (the test sends each callback by hand), so what the run does is the gate's own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from temporalio import activity, workflow

with workflow.unsafe.imports_passed_through():
    from app import StageGate
    from app.gate.types import Mode


@dataclass(frozen=True)
class TimedStage:
    """One stage: its name and its timeout."""

    name: str
    timeout_seconds: float


@dataclass(frozen=True)
class DeadlineInput:
    """The stages, in order, and the mode they wait in."""

    stages: list[TimedStage]
    mode: Mode = Mode.SIGNAL


@dataclass(frozen=True)
class DeadlineResult:
    """How each stage ended (`completed`, `timed_out`), in order."""

    outcomes: list[str] = field(default_factory=list)


@activity.defn(name="deadline_test_request")
async def request(stage: str) -> dict[str, str]:
    """The service took the request; its callback comes from the test."""
    return {"stage": stage}


@workflow.defn(name="DeadlineTestWorkflow")
class DeadlineWorkflow:
    """Each stage in turn; a stage that times out does not stop the next one."""

    @workflow.init
    def __init__(self, inp: DeadlineInput) -> None:
        self.gate = StageGate(mode=inp.mode, stages=[s.name for s in inp.stages])

    @workflow.run
    async def run(self, inp: DeadlineInput) -> DeadlineResult:
        """The stages' outcomes."""
        outcomes: list[str] = []
        for stage in inp.stages:
            record = await self.gate.call_and_wait(
                request, stage.name, stage=stage.name, timeout=timedelta(seconds=stage.timeout_seconds)
            )
            outcomes.append(record.outcome.value)
        await self.gate.finish()
        return DeadlineResult(outcomes=outcomes)
