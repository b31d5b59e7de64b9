"""Notify, then fetch, under the egress policy: the fetch GET is a pipeline request like the stage's own.

A stage's request reaches a listed loopback server (which records the signed callback URL); the test then
completes the stage with a callback, and the fetch that follows must obey the same rules as the request: a host
off `STAGEGATE_EGRESS_HOSTS` is never contacted, a 3xx is not followed, an `${env...}` value goes only to its
bound host. Each fails the stage at once with a clear error (not retried until the stage times out).
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from urllib.parse import urlsplit

from temporalio.client import Client

from app.pipeline.egress import EgressPolicy, pipeline_warnings
from app.runtime.config import Settings, load_settings
from tests.pipeline.harness import Ended, Rig, ended, pipeline_from, rig
from tests.pipeline.test_egress import Recorder, recorded

STAGE = """
version: 1
name: fetch-egress
stages:
  - name: only
    timeout: 30s
    request:
      method: POST
      url: "{url}"
      body: {{callback_url: "${{callback_url}}"}}
    fetch:
      url: "{fetch_url}"
      headers: {headers}
"""
SECRET = "tok-" + "f" * 20
TOKEN_HEADER = '{authorization: "Bearer ${env.PIPELINE_TOKEN}"}'


def _port(url: str) -> int:
    port = urlsplit(url).port
    assert port is not None
    return port


async def _notified(r: Rig, request_url: str, request_rec: Recorder, fetch_url: str, headers: str = "{}") -> Ended:
    """Start the stage, wait (bounded) for its request, post `completed` to its callback URL; how the run ended."""
    text = STAGE.format(url=f"{request_url}/job", fetch_url=fetch_url, headers=headers)
    handle = await r.start(pipeline_from(text))
    async with asyncio.timeout(30):
        while not request_rec.seen:
            await asyncio.sleep(0.05)
    callback_url = json.loads(request_rec.seen[0][3])["callback_url"]
    answer = await r.http.post(callback_url, json={"status": "completed", "result": {"id": "t-1"}})
    assert answer.status_code in (200, 202), answer.text
    return await ended(handle)


async def test_a_fetch_from_a_listed_host_completes_the_stage(client: Client, settings: Settings) -> None:
    """The control: with every host listed, the same stage completes with the fetched answer."""
    async with (
        recorded() as (service, service_rec),
        recorded() as (results, results_rec),
        rig(client, settings, egress_hosts=("127.0.0.1",)) as r,
    ):
        outcome = await _notified(r, service, service_rec, f"{results}/result/${{callback.id}}")
    assert outcome.result is not None, outcome.error
    assert outcome.result.stages[0].result == {"job_id": "j1"}
    assert [path for _, path, _, _ in results_rec.seen] == ["result/t-1"]


async def test_a_fetch_to_a_host_off_the_list_fails_the_stage_and_the_host_sees_nothing(
    client: Client, settings: Settings
) -> None:
    async with (
        recorded() as (service, service_rec),
        recorded() as (other, other_rec),
        rig(client, settings, egress_hosts=(f"127.0.0.1:{_port(service)}",)) as r,
    ):
        outcome = await _notified(r, service, service_rec, f"{other}/result/${{callback.id}}")
    assert outcome.error is not None
    assert outcome.error.type == "StageFailed", outcome.error
    assert "fetching the result failed" in outcome.error.message, outcome.error.message
    assert f"refused: 127.0.0.1:{_port(other)} is not on STAGEGATE_EGRESS_HOSTS" in outcome.error.message
    assert other_rec.seen == []


async def test_a_fetch_to_a_metadata_address_fails_the_stage_even_with_every_host_allowed(
    client: Client, settings: Settings
) -> None:
    """`*` allows any host name, never a link-local / metadata address: checked on the fetch's connection."""
    async with recorded() as (service, service_rec), rig(client, settings, egress_hosts=("*",)) as r:
        outcome = await _notified(r, service, service_rec, "http://169.254.169.254/latest/meta-data/${callback.id}")
    assert outcome.error is not None
    assert outcome.error.type == "StageFailed", outcome.error
    assert "refused: 169.254.169.254:80 resolved to 169.254.169.254, a link-local, metadata" in outcome.error.message


async def test_a_fetch_answered_with_a_redirect_fails_the_stage_and_is_not_followed(
    client: Client, settings: Settings
) -> None:
    async with (
        recorded() as (service, service_rec),
        recorded() as (thief, thief_rec),
        recorded(redirect_to=f"{thief}/steal") as (results, results_rec),
        rig(client, settings, egress_hosts=("127.0.0.1",)) as r,
    ):
        outcome = await _notified(r, service, service_rec, f"{results}/result/${{callback.id}}")
    assert outcome.error is not None
    assert outcome.error.type == "StageFailed", outcome.error
    assert "answered 307, a redirect to 127.0.0.1; redirects are not followed" in outcome.error.message
    assert len(results_rec.seen) == 1  # final at once: not retried
    assert thief_rec.seen == []


async def test_a_fetch_carrying_an_env_value_goes_only_to_its_bound_host(client: Client, settings: Settings) -> None:
    async with (
        recorded() as (service, service_rec),
        recorded() as (other, other_rec),
        rig(
            client,
            settings,
            worker_env={"PIPELINE_TOKEN": SECRET},
            egress_hosts=("127.0.0.1",),
            pipeline_env_hosts={"PIPELINE_TOKEN": (f"127.0.0.1:{_port(service)}",)},
        ) as r,
    ):
        outcome = await _notified(r, service, service_rec, f"{other}/result", headers=TOKEN_HEADER)
    assert outcome.error is not None
    assert outcome.error.type == "StageFailed", outcome.error
    assert "${env.PIPELINE_TOKEN} is not bound to" in outcome.error.message, outcome.error.message
    assert SECRET not in outcome.error.message
    assert other_rec.seen == []


def test_validate_warns_about_a_fetch_url_off_the_list() -> None:
    pipeline = pipeline_from(
        STAGE.format(url="https://api.example.com/job", fetch_url="https://elsewhere.test/r", headers=TOKEN_HEADER)
    )
    settings = replace(
        load_settings({}),
        egress_hosts=("api.example.com",),
        pipeline_env_hosts={"PIPELINE_TOKEN": ("api.example.com",)},
    )
    warnings = pipeline_warnings(pipeline, EgressPolicy.from_settings(settings), {"PIPELINE_TOKEN": SECRET})
    assert warnings == [
        "stage only: fetch url: elsewhere.test:443 is not on STAGEGATE_EGRESS_HOSTS; the worker will refuse it",
        "stage only: fetch url: ${env.PIPELINE_TOKEN} is not bound to elsewhere.test:443 "
        "(see STAGEGATE_PIPELINE_ENV_HOSTS); the worker will refuse it",
    ]
