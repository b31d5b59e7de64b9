"""Replay tests need no server; this only reports how many committed histories replayed."""

from __future__ import annotations

import pytest

from tests.replay.layout import HISTORY_DIR, REPLAYED_OK


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    """One line with the count, when the replay test ran and passed."""
    count = config.stash.get(REPLAYED_OK, None)
    if count is not None:
        terminalreporter.write_line(f"replay: {count} committed histories replayed OK ({HISTORY_DIR})")
