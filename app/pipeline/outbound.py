"""One outbound request of a pipeline-defined stage under the egress policy: what the activities check around it.

`egress_client` (app/pipeline/egress.py) checks every connection's address; the checks here are the ones only
the caller can make: which `${env...}` values the filled-in request carries and whether they may go to its host,
a policy refusal turned into a final stage error (not retried), and a 3xx answer failing the stage instead of
being followed. The stage request, the reconcile GET and the fetch after notify all use them.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import httpx
from temporalio.exceptions import ApplicationError

from app.gate.types import ERR_SERVICE_UNAVAILABLE
from app.pipeline.egress import EgressPolicy, host_port, refusal_in
from app.pipeline.types import ERR_EGRESS_REFUSED, ERR_REDIRECT_REFUSED


class UsedEnv(Mapping[str, str]):
    """The exposed environment, remembering which variables a template actually took a value from."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self._env = env
        self.used: set[str] = set()

    def __getitem__(self, name: str) -> str:
        value = self._env[name]
        self.used.add(name)
        return value

    def __iter__(self) -> Iterator[str]:
        return iter(self._env)

    def __len__(self) -> int:
        return len(self._env)


def check_env(policy: EgressPolicy, what: str, url: str, used: set[str]) -> None:
    """The `${env...}` values in this request may go to its host (`STAGEGATE_PIPELINE_ENV_HOSTS`); else final."""
    try:
        host, port = host_port(url)
    except ValueError:
        raise ApplicationError(
            f"{what}: the filled-in URL is not an http(s) URL with a host",
            type=ERR_EGRESS_REFUSED,
            non_retryable=True,
        ) from None
    problem = policy.env_problem(used, host, port) if used else None
    if problem is not None:
        raise ApplicationError(f"{what}: refused: {problem}", type=ERR_EGRESS_REFUSED, non_retryable=True)


def request_error(what: str, exc: httpx.HTTPError) -> ApplicationError:
    """A policy refusal is final (retrying cannot change the host); anything else is the service being away."""
    refused = refusal_in(exc)
    if refused is not None:
        # Names host and address only (never the path or query, where `${env...}` values may sit).
        return ApplicationError(f"{what}: refused: {refused}", type=ERR_EGRESS_REFUSED, non_retryable=True)
    # The exception text may hold the filled-in URL (and with it an `${env...}` value): type only.
    return ApplicationError(f"{what}: {type(exc).__name__}", type=ERR_SERVICE_UNAVAILABLE)


def raise_for_redirect(what: str, response: httpx.Response) -> None:
    """A 3xx is never followed: it would carry the callback URL and credentials to a host the file did not name."""
    if 300 <= response.status_code < 400:
        try:
            where = httpx.URL(response.headers.get("location", "")).host or "the same host"
        except httpx.InvalidURL:
            where = "an unreadable location"
        raise ApplicationError(
            f"{what}: answered {response.status_code}, a redirect to {where}; redirects are not followed "
            "(they would carry the callback URL and credentials elsewhere): put the final URL in the pipeline file",
            type=ERR_REDIRECT_REFUSED,
            non_retryable=True,
        )
