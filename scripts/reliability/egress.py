"""Pipelines that try to send requests where they may not (issue 21 item 2): the table row.

    just reliability-row egress [--runs-per-kind 3] [--seed 1] [--open]

A lab whose workers allow only two local listeners (`STAGEGATE_EGRESS_HOSTS`) and bind `${env.PIPELINE_TOKEN}` to
neither. Pipeline runs of four kinds each try one thing: a listener off the list, the metadata address
169.254.169.254, a listed listener that answers 307 to an unlisted one, and the token sent to a listed host it is
not bound to. Every listener records what reaches it. Goal: every stage fails (`StageFailed`) with its clear
error, nothing arrives anywhere off the list (the redirect's target, the off-list and unbound listeners), no 5xx.
`--open` breaks the rule on purpose (every listener listed, the token bound to all) to show the row fails.
"""

from __future__ import annotations

import argparse
import asyncio
import random
from collections import Counter
from collections.abc import Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Any

from temporalio.client import WorkflowFailureError, WorkflowHandle
from temporalio.exceptions import ApplicationError

from app.gate.types import Mode
from app.pipeline.file import parse_pipeline
from app.pipeline.types import PipelineRunInput
from app.starter import start_pipeline_run
from scripts.reliability.guard_row import GuardRow
from scripts.reliability.lab import lab
from scripts.reliability.tally import server_errors
from scripts.stack.asgi_server import serving

COMMAND = "just reliability-row egress --seed N"
METADATA = "http://169.254.169.254/latest/meta-data/"
RUN_TIMEOUT_S = 120.0
STAGE = """
version: 1
name: egress-{kind}
stages:
  - name: only
    timeout: 30s
    request:
      method: POST
      url: "{url}"
      headers: {headers}
      body: {{callback_url: "${{callback_url}}"}}
"""
TOKEN_HEADER = '{authorization: "Bearer ${env.PIPELINE_TOKEN}"}'  # noqa: S105  # a reference, not a value
# What each kind's stage error must say.
EXPECTED = {
    "off_list": "is not on STAGEGATE_EGRESS_HOSTS",
    "metadata": "169.254.169.254",
    "redirect": "redirects are not followed",
    "env_unbound": "${env.PIPELINE_TOKEN} is not bound to",
}


@dataclass
class Listener:
    """A bare ASGI app that counts what reaches it; answers 200, or 307 to `redirect_to`."""

    redirect_to: str | None = None
    seen: int = 0
    saw_token: int = 0
    token: str = ""

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                kind = (await receive())["type"].rsplit(".", 1)[-1]
                await send({"type": f"lifespan.{kind}.complete"})
                if kind == "shutdown":
                    return
        more = True
        while more:
            more = bool((await receive()).get("more_body"))
        self.seen += 1
        self.saw_token += any(self.token.encode() in v for _, v in scope["headers"])
        status, extra = (307, [(b"location", self.redirect_to.encode())]) if self.redirect_to else (200, [])
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"application/json"), *extra],
            }
        )
        await send({"type": "http.response.body", "body": b'{"job_id": "j1"}'})


@dataclass
class KindResult:
    """How the runs of one kind ended."""

    runs: int = 0
    failed_as_expected: int = 0
    other_endings: Counter[str] = field(default_factory=Counter)
    sample_error: str = ""


async def ending(handle: WorkflowHandle[Any, Any]) -> tuple[str, str]:
    """(error type, message) of a failed run; ("completed", "") or ("not closed in time", "") otherwise."""
    try:
        await asyncio.wait_for(handle.result(), RUN_TIMEOUT_S)
    except WorkflowFailureError as err:
        cause = err.cause
        if isinstance(cause, ApplicationError):
            return str(cause.type), cause.message
        return type(cause).__name__, str(cause)
    except TimeoutError:
        await handle.terminate("egress row: not closed in time")
        return "not closed in time", ""
    return "completed", ""


def _port(url: str) -> str:
    return url.rsplit(":", 1)[1]


async def run(args: argparse.Namespace) -> GuardRow:
    token = f"tok-{random.Random(args.seed).getrandbits(64):016x}"  # noqa: S311  # a marker, not a secret
    names = ("off", "redirector", "thief", "unbound")
    listeners = {name: Listener(token=token) for name in names}
    async with AsyncExitStack() as stack:
        urls = {name: await stack.enter_async_context(serving(app)) for name, app in listeners.items()}
        listeners["redirector"].redirect_to = f"{urls['thief']}/steal"
        listed = ["redirector", "unbound"] if not args.open else list(names)
        env = {
            "STAGEGATE_EGRESS_HOSTS": ",".join(f"127.0.0.1:{_port(urls[n])}" for n in listed),
            # Bound to a listener nobody calls (args.open: to every listener).
            "STAGEGATE_PIPELINE_ENV_HOSTS": "PIPELINE_TOKEN="
            + " ".join(f"127.0.0.1:{_port(urls[n])}" for n in (names if args.open else ("thief",))),
            "PIPELINE_TOKEN": token,
        }
        targets = {
            "off_list": (f"{urls['off']}/job", "{}"),
            "metadata": (METADATA, "{}"),
            "redirect": (f"{urls['redirector']}/job", "{}"),
            "env_unbound": (f"{urls['unbound']}/job", TOKEN_HEADER),
        }
        results = {kind: KindResult() for kind in targets}
        async with lab("egress", extra_env=env) as lab_:
            started = []
            for kind, (url, headers) in targets.items():
                pipeline = parse_pipeline(STAGE.format(kind=kind, url=url, headers=headers), source=f"{kind}.yaml")
                for _ in range(args.runs_per_kind):
                    inp = PipelineRunInput(pipeline=pipeline, input={}, mode=Mode.SIGNAL)
                    started.append((kind, await start_pipeline_run(lab_.client, lab_.task_queue, inp)))
            endings = await asyncio.gather(*(ending(h) for _, h in started))
            errors = server_errors(lab_.service_log)
    for (kind, _), (error_type, message) in zip(started, endings, strict=True):
        r = results[kind]
        r.runs += 1
        if error_type == "StageFailed" and EXPECTED[kind] in message and token not in message:
            r.failed_as_expected += 1
            r.sample_error = r.sample_error or message[:300]
        else:
            r.other_endings[f"{error_type}: {message[:120]}"] += 1
    arrived = {n: listeners[n].seen for n in ("off", "thief", "unbound")}
    runs = sum(r.runs for r in results.values())
    failed_ok = sum(r.failed_as_expected for r in results.values())
    return GuardRow(
        fault="pipeline stages aimed at a host off `STAGEGATE_EGRESS_HOSTS`, the metadata address 169.254.169.254, "
        "a listed host answering 307 to an unlisted one, and a `${env.PIPELINE_TOKEN}` header to a listed host "
        "it is not bound to" + (" [--open: rule broken on purpose]" if args.open else ""),
        tries=f"4 kinds x {args.runs_per_kind} pipeline runs = {runs}; 4 local listeners count what arrives",
        expected="every stage fails (`StageFailed`) with its clear error; 0 requests reach the off-list, "
        "redirect-target and unbound listeners; no 5xx",
        observed=f"{failed_ok}/{runs} stages failed with their error; arrived off the list: {arrived}; the "
        f"redirecting host was asked {listeners['redirector'].seen} times (once per run, not retried)",
        lost=0,
        double_advanced=0,
        five_xx=sum(n for s, n in errors.items() if s != 503),
        via_reconcile="-",
        command=COMMAND,
        breaches={"stage_not_failed_as_expected": runs - failed_ok, "requests_arrived_off_list": sum(arrived.values())},
        detail={
            "kinds": {
                k: {
                    "runs": r.runs,
                    "failed_as_expected": r.failed_as_expected,
                    "other_endings": dict(r.other_endings),
                    "sample_error": r.sample_error,
                }
                for k, r in results.items()
            },
            "arrived": arrived,
            "token_seen_by": {n: app.saw_token for n, app in listeners.items()},
        },
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="just reliability-row egress", description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--runs-per-kind", type=int, default=3, help="pipeline runs per kind (default 3)")
    parser.add_argument("--seed", type=int, default=1, help="the token marker (nothing else is random)")
    parser.add_argument("--open", action="store_true", help="break the rule: list every host, bind the token to all")
    args = parser.parse_args(argv)
    asyncio.run(run(args)).emit()


if __name__ == "__main__":
    main()
