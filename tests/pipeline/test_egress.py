"""The egress policy: a pipeline cannot reach a host off the list, a metadata address, a redirect's target, or
send an `${env...}` value to a host it is not bound to. Real loopback servers record what reaches them."""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from typing import Any, cast

import httpcore
import httpx
import pytest
from litestar import Litestar
from temporalio.client import Client

from app.errors import EgressRefusedError, SettingsError
from app.pipeline.egress import EgressPolicy, EgressTransport, egress_client, parse_rule, refusal_in
from app.runtime.config import Settings, load_settings
from tests.asgi import serving
from tests.pipeline.harness import ended, pipeline_from, rig


@dataclass
class Recorder:
    """What reached one server: (method, path, headers, body) per request."""

    seen: list[tuple[str, str, dict[str, str], bytes]] = field(default_factory=list)
    redirect_to: str | None = None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        """A bare ASGI app: record the request, answer 200 with a job id (or 307 to `redirect_to`)."""
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                kind = message["type"].rsplit(".", 1)[-1]
                await send({"type": f"lifespan.{kind}.complete"})
                if kind == "shutdown":
                    return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        self.seen.append((scope["method"], scope["path"].lstrip("/"), headers, body))
        status, extra = (307, [(b"location", self.redirect_to.encode())]) if self.redirect_to else (200, [])
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"application/json"), *extra],
            }
        )
        await send({"type": "http.response.body", "body": b'{"job_id": "j1"}'})


@asynccontextmanager
async def recorded(redirect_to: str | None = None) -> AsyncIterator[tuple[str, Recorder]]:
    recorder = Recorder(redirect_to=redirect_to)
    async with serving(cast("Litestar", recorder)) as url:
        yield url, recorder


def _policy(
    *hosts: str, refuse_private: bool = False, env_hosts: dict[str, tuple[str, ...]] | None = None
) -> EgressPolicy:
    settings = replace(
        load_settings({}), egress_hosts=hosts, pipeline_env_hosts=env_hosts, egress_refuse_private=refuse_private
    )
    return EgressPolicy.from_settings(settings)


# --- The rules, without a network ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text", ["http://x.example", "x.example/path", "x.example:http", "x.example:0", "[::1", "a..b", "bad host", "-a.b"]
)
def test_bad_entries_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"\S"):
        parse_rule(text)


def test_a_bad_entry_is_a_settings_error_naming_the_variable() -> None:
    with pytest.raises(SettingsError, match=r"^STAGEGATE_EGRESS_HOSTS: 'http://x' must be a host"):
        EgressPolicy.from_settings(load_settings({"STAGEGATE_EGRESS_HOSTS": "api.example.com, http://x"}))


def test_the_default_allows_the_service_only() -> None:
    policy = EgressPolicy.from_settings(load_settings({"SERVICE_URL": "http://127.0.0.1:9001"}))
    assert policy.listed_by_name("127.0.0.1", 9001)
    assert not policy.listed_by_name("127.0.0.1", 9002)
    assert not policy.listed_by_name("example.com", 80)
    assert policy.env_problem(["PIPELINE_TOKEN"], "127.0.0.1", 9001) is None
    assert policy.env_problem(["PIPELINE_TOKEN"], "example.com", 443) is not None


@pytest.mark.parametrize(
    ("entry", "host", "port", "listed"),
    [
        ("api.example.com", "API.example.com.", 443, True),
        ("api.example.com:443", "api.example.com", 8443, False),
        ("*.example.com", "a.b.example.com", 443, True),
        ("*.example.com", "example.com", 443, False),
        ("*.example.com", "evilexample.com", 443, False),
        ("*", "anything.at.all", 1, True),
        ("[::1]:8001", "::1", 8001, True),
        ("10.0.0.0/8", "10.9.8.7", 80, True),
        ("10.0.0.0/8", "10.example.com", 80, False),
    ],
)
def test_names_and_ports(entry: str, host: str, port: int, listed: bool) -> None:
    assert _policy(entry).listed_by_name(host, port) is listed


METADATA = ["169.254.169.254", "169.254.170.2", "fd00:ec2::254", "fe80::1", "100.100.100.200", "0.0.0.0"]


@pytest.mark.parametrize("address", [*METADATA, "::ffff:169.254.169.254", "64:ff9b::a9fe:a9fe"])
def test_metadata_and_link_local_are_refused_even_for_star(address: str) -> None:
    policy = _policy("*", "metadata.internal")
    problem = policy.address_problem("metadata.internal", 80, ipaddress.ip_address(address))
    assert problem is not None
    assert "link-local, metadata" in problem


def test_an_address_entry_opens_a_refused_range() -> None:
    policy = _policy("169.254.169.254")
    assert policy.address_problem("169.254.169.254", 80, ipaddress.ip_address("169.254.169.254")) is None


@pytest.mark.parametrize("address", ["10.1.2.3", "172.16.0.1", "192.168.1.1", "127.0.0.1", "::1", "fd12::1"])
def test_private_ranges_refused_only_when_asked(address: str) -> None:
    ip = ipaddress.ip_address(address)
    assert _policy("*").address_problem("svc", 80, ip) is None
    problem = _policy("*", refuse_private=True).address_problem("svc", 80, ip)
    assert problem is not None
    assert "private or loopback" in problem
    assert (
        _policy("*", "10.0.0.0/8", "127.0.0.0/8", "::/0", refuse_private=True).address_problem(
            "svc", 80, ipaddress.ip_address("10.1.2.3")
        )
        is None
    )


def test_env_values_go_only_to_their_bound_hosts() -> None:
    policy = _policy(
        "*", env_hosts={"PIPELINE_KYC_*": ("kyc.example.com",), "PIPELINE_PUBLISH": ("pub.example.com:443",)}
    )
    assert policy.env_problem(["PIPELINE_KYC_KEY"], "kyc.example.com", 443) is None
    assert policy.env_problem(["PIPELINE_PUBLISH"], "pub.example.com", 443) is None
    problem = policy.env_problem(["PIPELINE_KYC_KEY", "PIPELINE_PUBLISH"], "pub.example.com", 443)
    assert problem == "${env.PIPELINE_KYC_KEY} is not bound to pub.example.com:443 (see STAGEGATE_PIPELINE_ENV_HOSTS)"
    assert policy.env_problem(["PIPELINE_UNBOUND"], "kyc.example.com", 443) is not None


def test_the_transport_still_has_our_network_backend() -> None:
    """EgressTransport replaces httpx's private pool: an httpx upgrade that changes how must fail here."""
    transport = EgressTransport(_policy("*"))
    pool = transport._pool
    assert isinstance(pool, httpcore.AsyncConnectionPool)
    assert type(pool._network_backend).__name__ == "EgressBackend"


# --- Real connections ----------------------------------------------------------------------------------------


async def _client(policy: EgressPolicy) -> httpx.AsyncClient:
    return egress_client(policy)


def _port(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


@pytest.mark.integration  # real loopback servers and connections
async def test_a_host_off_the_list_is_never_contacted() -> None:
    async with recorded() as (listed, listed_rec), recorded() as (other, other_rec):
        http = await _client(_policy(f"127.0.0.1:{_port(listed)}"))
        async with http:
            assert (await http.get(f"{listed}/ok")).status_code == 200
            with pytest.raises(httpx.ConnectError) as caught:
                await http.get(f"{other}/steal")
    refused = refusal_in(caught.value)
    assert refused is not None
    assert str(refused) == f"127.0.0.1:{_port(other)} is not on STAGEGATE_EGRESS_HOSTS"
    assert len(listed_rec.seen) == 1
    assert other_rec.seen == []


@pytest.mark.integration  # real loopback servers and connections
async def test_a_listed_name_that_resolves_to_a_refused_address_is_refused_after_dns() -> None:
    """`localhost` is on the list by name; DNS answers 127.0.0.1 (or ::1), which the policy refuses here."""
    async with recorded() as (url, rec):
        port = _port(url)
        async with egress_client(_policy(f"localhost:{port}", refuse_private=True)) as http:
            with pytest.raises(httpx.ConnectError) as caught:
                await http.get(f"http://localhost:{port}/x")
        refused = refusal_in(caught.value)
        assert refused is not None
        assert "resolved to" in str(refused)
        assert "private or loopback" in str(refused)
        assert rec.seen == []
        # The same name without the private-range rule connects: the refusal above was the address check.
        async with egress_client(_policy(f"localhost:{port}")) as http:
            assert (await http.get(f"http://localhost:{port}/x")).status_code == 200
    assert [path for _, path, _, _ in rec.seen] == ["x"]


@pytest.mark.integration  # real loopback servers and connections
@pytest.mark.parametrize("address", ["169.254.169.254", "[::ffff:169.254.169.254]", "0.0.0.0"])
async def test_metadata_addresses_are_refused_before_connecting(address: str) -> None:
    async with egress_client(_policy("*")) as http:
        with pytest.raises(httpx.ConnectError) as caught:
            await http.get(f"http://{address}/latest/meta-data/", timeout=5)
    assert isinstance(refusal_in(caught.value), EgressRefusedError)


@pytest.mark.integration  # real loopback servers and connections
async def test_every_connection_is_checked_so_dns_rebinding_finds_no_window() -> None:
    """The resolver answers a loopback address first, then a metadata one (a rebinding DNS server would)."""
    answers = ["127.0.0.1", "169.254.169.254"]
    asked: list[str] = []

    async def rebinding(host: str, port: int) -> Sequence[str]:
        asked.append(host)
        return [answers[min(len(asked) - 1, 1)]]

    async with recorded() as (url, rec):
        port = _port(url)
        policy = _policy(f"rebind.test:{port}")
        # No keep-alive: each request makes a connection of its own, and each connection is checked.
        limits = httpx.Limits(max_keepalive_connections=0)
        transport = EgressTransport(policy, limits=limits, resolver=rebinding)
        async with httpx.AsyncClient(transport=transport, trust_env=False) as http:
            first = await http.get(f"http://rebind.test:{port}/one")
            with pytest.raises(httpx.ConnectError) as caught:
                await http.get(f"http://rebind.test:{port}/two")
    assert first.status_code == 200
    assert "169.254.169.254" in str(refusal_in(caught.value))
    assert [path for _, path, _, _ in rec.seen] == ["one"]
    assert asked == ["rebind.test", "rebind.test"]


@pytest.mark.integration  # real loopback servers and connections
async def test_redirects_are_not_followed_by_the_client() -> None:
    async with (
        recorded() as (target, target_rec),
        recorded(redirect_to=f"{target}/steal") as (start, _),
        egress_client(_policy("*")) as http,
    ):
        answer = await http.post(f"{start}/job", json={"callback_url": "signed"})
    assert answer.status_code == 307
    assert target_rec.seen == []


# --- Pipeline runs: the stage fails with a clear error, nothing reaches the wrong server ---------------------


STAGE = """
version: 1
name: egress
stages:
  - name: only
    timeout: 30s
    request:
      method: POST
      url: "{url}"
      headers: {headers}
      body: {{callback_url: "${{callback_url}}"}}
"""


async def test_a_stage_to_a_host_off_the_list_fails_and_the_host_sees_nothing(
    client: Client, settings: Settings
) -> None:
    async with recorded() as (url, rec), rig(client, settings) as r:
        outcome = await ended(await r.start(pipeline_from(STAGE.format(url=f"{url}/job", headers="{}"))))
    assert outcome.error is not None
    assert outcome.error.type == "StageFailed", outcome.error
    assert f"refused: 127.0.0.1:{_port(url)} is not on STAGEGATE_EGRESS_HOSTS" in outcome.error.message
    assert rec.seen == []


async def test_a_stage_answered_with_a_redirect_fails_and_the_callback_url_stays_home(
    client: Client, settings: Settings
) -> None:
    async with (
        recorded() as (thief, thief_rec),
        recorded(redirect_to=f"{thief}/steal") as (start, start_rec),
        rig(client, settings, egress_hosts=("127.0.0.1",)) as r,
    ):
        outcome = await ended(await r.start(pipeline_from(STAGE.format(url=f"{start}/job", headers="{}"))))
    assert outcome.error is not None
    assert outcome.error.type == "StageFailed", outcome.error
    assert "answered 307, a redirect to 127.0.0.1; redirects are not followed" in outcome.error.message
    assert len(start_rec.seen) == 1  # not retried either
    assert thief_rec.seen == []


async def test_an_env_value_goes_only_to_its_bound_host(client: Client, settings: Settings) -> None:
    secret = "tok-" + "x" * 20
    headers = '{authorization: "Bearer ${env.PIPELINE_TOKEN}"}'
    async with recorded() as (bound, bound_rec), recorded() as (other, other_rec):
        bindings = {"PIPELINE_TOKEN": (f"127.0.0.1:{_port(bound)}",)}
        async with rig(
            client,
            settings,
            worker_env={"PIPELINE_TOKEN": secret},
            egress_hosts=("127.0.0.1",),
            pipeline_env_hosts=bindings,
        ) as r:
            refused = await ended(await r.start(pipeline_from(STAGE.format(url=f"{other}/job", headers=headers))))
            await r.start(pipeline_from(STAGE.format(url=f"{bound}/job", headers=headers)))
            for _ in range(200):  # the bound host gets its request (the stage then waits for a callback)
                if bound_rec.seen:
                    break
                await asyncio.sleep(0.05)
    assert refused.error is not None
    assert refused.error.type == "StageFailed", refused.error
    assert "${env.PIPELINE_TOKEN} is not bound to" in refused.error.message
    assert secret not in refused.error.message
    assert other_rec.seen == []
    assert bound_rec.seen
    assert bound_rec.seen[0][2]["authorization"] == f"Bearer {secret}"
