"""The Rich consoles the CLI prints through, made on first use: `--help`, bad options and `--json` never import Rich."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console


@cache
def out() -> Console:
    """Standard output; piped (CI logs, `just up`) it is wide enough that tables and links do not fold."""
    from rich.console import Console

    console = Console(soft_wrap=False)
    return console if console.is_terminal else Console(width=160)
