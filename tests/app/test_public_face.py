"""`app` is the public face: every name in `__all__` resolves, and workflow-side names load no server code.

The face working in a real workflow on a real worker is shown by `tests/gate/test_own_workflow.py`, whose
workflow and activities (`tests/gate/onboarding_*.py`) import only from `app`.
"""

from __future__ import annotations

import json
import subprocess
import sys
from importlib import import_module

import pytest

import app
from app import _EXPORTS  # the face's own table: name -> defining module

# What a workflow file imports; none of it may pull in HTTP, YAML or JSON Schema code.
WORKFLOW_SIDE = ("StageGate", "stage_failure", "Mode", "Outcome", "StageRecord", "GateState", "StagegateError")
NOT_IN_A_WORKFLOW = ("litestar", "httpx", "uvicorn", "ruamel", "jsonschema", "prometheus_client", "msgspec")


def test_all_lists_every_export_and_each_resolves() -> None:
    assert sorted(app.__all__) == sorted(_EXPORTS)
    for name in app.__all__:
        value = getattr(app, name)
        assert getattr(import_module(_EXPORTS[name]), name) is value, name
        if hasattr(value, "__module__"):  # classes and functions are defined there (constants have no module)
            assert value.__module__.startswith(_EXPORTS[name]) or _EXPORTS[name] == "app.errors", name
        assert name in dir(app)


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="not_a_public_name"):
        app.not_a_public_name  # type: ignore[attr-defined]  # noqa: B018


@pytest.mark.integration  # a fresh interpreter (a subprocess) sees what the import really loads
def test_workflow_side_names_load_no_server_code() -> None:
    # A fresh interpreter: this test process has long imported everything.
    code = (
        "import json, sys\n"
        f"from app import {', '.join(WORKFLOW_SIDE)}\n"
        f"print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}} & set({list(NOT_IN_A_WORKFLOW)!r}))))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert json.loads(done.stdout) == []
