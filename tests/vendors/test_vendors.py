"""Three services not written for stagegate, reached with no relay: their own bodies, through a callback shape.

Every style x scenario x mode x way (Python API, pipeline file) ends as the scenario says. `just test` runs one
case per style x mode x way; the whole matrix is marked `slow` (`just test-slow tests/vendors`).
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator

import pytest
from temporalio.client import Client

from app.gate.types import Mode, Outcome, StageRecord
from app.runtime.config import Settings
from tests.vendors.common import Scenario
from tests.vendors.rig import Style, VendorRig, Way, vendor_rig

OUTCOME = {
    Scenario.SUCCEED: Outcome.COMPLETED,
    Scenario.FAIL: Outcome.FAILED,
    Scenario.CANCEL: Outcome.CANCELLED,
    Scenario.NEVER: Outcome.TIMED_OUT,
    Scenario.TWICE: Outcome.COMPLETED,
    Scenario.EARLY: Outcome.COMPLETED,
    Scenario.OUT_OF_ORDER: Outcome.COMPLETED,
    Scenario.OVERSIZED: Outcome.TIMED_OUT,
}
# The delivery label of each style's successful final event.
FINAL = {Style.REPLICATE: "completed:succeeded", Style.ASSEMBLY: "completed", Style.TWILIO: "delivered"}
FAILURE_TEXT = {Style.REPLICATE: "CUDA out of memory", Style.ASSEMBLY: "reported", Style.TWILIO: "30003"}
HAS_PROGRESS = {Style.REPLICATE, Style.TWILIO}
# A repeat after the stage advanced: signal mode takes it (the gate ignores it), update and token mode say 409.
REPEAT_ANSWERS = {200, 202, 409}

CORE = [
    pytest.param(style, Scenario.SUCCEED, mode, way, id=f"{style}-succeed-{mode}-{way}")
    for style, mode, way in itertools.product(Style, Mode, Way)
]
MATRIX = [
    pytest.param(style, scenario, mode, way, id=f"{style}-{scenario}-{mode}-{way}", marks=pytest.mark.slow)
    for style, scenario, mode, way in itertools.product(Style, Scenario, Mode, Way)
    if scenario is not Scenario.SUCCEED
]


@pytest.fixture
async def rig(client: Client, settings: Settings) -> AsyncIterator[VendorRig]:
    async with vendor_rig(client, settings) as started:
        yield started


@pytest.mark.parametrize(("style", "scenario", "mode", "way"), CORE + MATRIX)
async def test_vendor_style(rig: VendorRig, style: Style, scenario: Scenario, mode: Mode, way: Way) -> None:
    record = await rig.run(style, scenario, mode, way)

    answers = [status for _, status in rig.deliveries.answers]
    if scenario is not Scenario.NEVER or style in HAS_PROGRESS:  # "never" without progress events sends nothing
        assert answers, "the vendor made no delivery"
    assert all(0 < status < 500 for status in answers), rig.deliveries.answers
    assert record.outcome is OUTCOME[scenario], (record, rig.deliveries.answers)
    check_scenario(record, rig, style, scenario, mode)


def check_scenario(record: StageRecord, rig: VendorRig, style: Style, scenario: Scenario, mode: Mode) -> None:
    final = rig.deliveries.statuses(FINAL[style])
    if scenario is Scenario.SUCCEED:
        assert record.result is not None
        if style is Style.ASSEMBLY:  # notify, then fetch: the result is the fetched transcript
            assert record.result["text"] == "Hello from the other side.", record
        assert final
        assert final[0] in (200, 202)
        if style in HAS_PROGRESS and mode is not Mode.TOKEN:  # token mode: progress is the activity's heartbeat
            assert record.progress >= 1, record
    elif scenario is Scenario.FAIL:
        assert record.error is not None
        assert FAILURE_TEXT[style] in record.error, record
    elif scenario is Scenario.TWICE:
        assert len(final) == 2, rig.deliveries.answers
        assert final[0] in (200, 202), rig.deliveries.answers
        assert final[1] in REPEAT_ANSWERS, rig.deliveries.answers
    elif scenario is Scenario.OVERSIZED:
        assert 413 in [status for _, status in rig.deliveries.answers], rig.deliveries.answers


@pytest.mark.parametrize("mode", list(Mode))
async def test_a_fetch_that_fails_for_good_fails_the_stage(rig: VendorRig, mode: Mode) -> None:
    record = await rig.run(Style.ASSEMBLY, Scenario.SUCCEED, mode, Way.PYTHON, broken_fetch=True)
    assert record.outcome is Outcome.FAILED, record
    assert record.error is not None
    assert "fetching the result failed" in record.error, record.error
    assert "refused with 404" in record.error, record.error


@pytest.mark.parametrize("way", list(Way))
async def test_a_fetch_too_early_is_retried_until_the_result_is_there(rig: VendorRig, way: Way) -> None:
    # The notification says "completed" while a GET still says "processing" for a moment.
    record = await rig.run(Style.ASSEMBLY, Scenario.OUT_OF_ORDER, Mode.SIGNAL, way)
    assert record.outcome is Outcome.COMPLETED, record
    assert record.result is not None
    assert record.result["text"] == "Hello from the other side."
    assert len(rig.fakes[1].fetches) >= 2  # the first GET found it not finished


@pytest.mark.parametrize("mode", list(Mode))
async def test_a_python_api_fetch_obeys_the_egress_policy(client: Client, settings: Settings, mode: Mode) -> None:
    """The fetch of a stage defined in Python goes through the same policy as a pipeline's: the vendor's host is
    off the list here, so the fetch is refused at once (not retried until the stage times out)."""
    async with vendor_rig(client, settings, egress_hosts=("api.example.com",)) as refused_rig:
        record = await refused_rig.run(Style.ASSEMBLY, Scenario.SUCCEED, mode, Way.PYTHON)
        port = refused_rig.vendor_url.rsplit(":", 1)[1]
    assert record.outcome is Outcome.FAILED, record
    assert record.error is not None
    assert "fetching the result failed" in record.error, record.error
    assert f"refused: 127.0.0.1:{port} is not on STAGEGATE_EGRESS_HOSTS" in record.error, record.error
