"""The table row of a guard (issue 21 items 1-4 and 6): what was tried, what every rule counted, one verdict.

The guard rows check refusals rather than survival, so each carries its own checks: a named count whose goal is
0 (a forged callback taken, a request that reached a host off the list, a slow connection left open, a 5xx).
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class GuardRow:
    """One line of docs/RELIABILITY.md plus the JSON document behind it."""

    fault: str
    tries: str
    expected: str
    observed: str
    lost: int
    double_advanced: int
    five_xx: int
    via_reconcile: str
    command: str
    # Rule name -> count of breaches (goal 0 each); the row fails when any is non-zero.
    breaches: dict[str, int] = field(default_factory=dict)
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not (self.lost or self.double_advanced or self.five_xx or any(self.breaches.values()))

    def markdown(self) -> str:
        cells = [
            self.fault,
            self.tries,
            self.expected,
            self.observed,
            str(self.lost),
            str(self.double_advanced),
            str(self.five_xx),
            self.via_reconcile,
            f"`{self.command}`",
        ]
        return "| " + " | ".join(cells) + " |"

    def emit(self) -> None:
        """Print the JSON document, then the table row; exit non-zero when a rule was broken."""
        print(json.dumps(asdict(self) | {"ok": self.ok}, indent=2, default=str))
        print(self.markdown(), flush=True)
        if not self.ok:
            broken = {k: v for k, v in self.breaches.items() if v}
            print(
                f"FAILED: lost {self.lost}, double {self.double_advanced}, 5xx {self.five_xx}, {broken}",
                file=sys.stderr,
            )
            sys.exit(1)
