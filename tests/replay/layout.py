"""Where committed histories live and how a file name maps back to its workflow ID.

`tests.replay.record` writes `<tag>-<scenario>.json` (or `<tag>-<scenario>-run<N>.json`, one file per run
of a continue-as-new chain) for a run it started with workflow ID `stagegate-replay-<tag>-<scenario>`;
the replay test recovers that ID from the file name, since a history's JSON does not hold it.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

HISTORY_DIR = Path(__file__).resolve().parent / "histories"
# Pipeline runs (PipelineWorkflow) apart from the demo's: each folder replays against its own workflow type.
# Same file names and workflow IDs as the demo's, under their own tags (p1, ...).
PIPELINE_HISTORY_DIR = Path(__file__).resolve().parent / "pipeline_histories"
# The hook mailboxes (HookMailboxWorkflow) of recorded fixed-endpoint pipeline runs, under the runs' tags (p5, ...).
MAILBOX_HISTORY_DIR = Path(__file__).resolve().parent / "mailbox_histories"
WORKFLOW_ID_PREFIX = "stagegate-replay-"

# Set by the replay test, printed by tests/replay/conftest.py in the terminal summary.
REPLAYED_OK = pytest.StashKey[int]()

_RUN_SUFFIX = re.compile(r"-run\d+$")


def workflow_id_for(tag: str, scenario: str) -> str:
    """The workflow ID a recorded scenario runs under."""
    return f"{WORKFLOW_ID_PREFIX}{tag}-{scenario}"


def history_file_name(tag: str, scenario: str, run: int | None = None) -> str:
    """`<tag>-<scenario>.json`, or `<tag>-<scenario>-run<N>.json` for run N of a continue-as-new chain."""
    suffix = f"-run{run}" if run is not None else ""
    return f"{tag}-{scenario}{suffix}.json"


def workflow_id_from_file(path: Path) -> str:
    """Inverse of `history_file_name` + `workflow_id_for`: the workflow ID of a committed history file."""
    return WORKFLOW_ID_PREFIX + _RUN_SUFFIX.sub("", path.stem)


def committed_histories(directory: Path = HISTORY_DIR) -> list[Path]:
    """Every committed history file, sorted by name."""
    return sorted(directory.glob("*.json"))
