"""The CLI's own error: one line on stderr and a non-zero exit code (kept light: `cli.main` imports it at start-up)."""

from __future__ import annotations


class CliError(Exception):
    """An error we report as one line on stderr with a non-zero exit code."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
