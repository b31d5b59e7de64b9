"""docs/real-services.md's "Try it" block runs as written: the worker its `just up` line starts may reach the
fake vendors it serves, so none of the pipelines it starts is refused by the egress policy.

(The pipelines themselves run against the fakes in every mode in tests/vendors/test_vendors.py; this holds the
page's commands to the same settings. The block once said a bare `just up`, whose worker refuses `:8010`.)
"""

from __future__ import annotations

import re
import shlex

from app.pipeline.egress import EgressPolicy, pipeline_warnings
from app.pipeline.file import load_pipeline
from app.runtime.config import load_settings
from tests.docs.pages import ROOT, blocks
from tests.vendors.serve import DEFAULT_PORT

PAGE = ROOT / "docs" / "real-services.md"


def _try_it() -> str:
    (block,) = [b for b in blocks(PAGE) if b.lang == "bash" and "tests.vendors.serve" in b.code]
    return block.code


def _up_env(code: str) -> dict[str, str]:
    """The VAR=VALUE words in front of the block's `just up`."""
    (line,) = [line for line in code.splitlines() if re.search(r"\bjust up\b", line)]
    env: dict[str, str] = {}
    for word in shlex.split(line, comments=True):
        if "=" not in word or word.startswith("-"):
            break
        name, value = word.split("=", 1)
        env[name] = value
    return env


def _refusals(code: str, env: dict[str, str]) -> list[str]:
    settings = load_settings(env)
    policy = EgressPolicy.from_settings(settings)
    files = re.findall(r"--pipeline (\S+)", code)
    assert files, "the block starts no pipeline"
    found: list[str] = []
    for name in sorted(set(files)):
        found += [f"{name}: {w}" for w in pipeline_warnings(load_pipeline(ROOT / name), policy, settings.pipeline_env)]
    return found


def test_the_try_it_blocks_worker_may_reach_the_fake_vendors() -> None:
    code = _try_it()
    assert f":{DEFAULT_PORT}" in code
    assert _refusals(code, _up_env(code)) == []


def test_a_bare_just_up_would_refuse_them() -> None:
    """The rule above, shown to bite: without the page's variable every example pipeline is refused."""
    refused = _refusals(_try_it(), {})
    assert refused
    assert all(f"127.0.0.1:{DEFAULT_PORT} is not on STAGEGATE_EGRESS_HOSTS" in w for w in refused), refused
