"""The pages (README.md, docs/*.md) and their fenced code blocks, for the tests that hold the docs to the code."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").glob("*.md"))]
PARTIAL = "# snippet: partial"

_FENCE = re.compile(r"^```(\w*)\s*$")


@dataclass(frozen=True)
class Snippet:
    """One fenced code block of a page."""

    page: Path
    line: int  # of the opening fence, 1-based
    lang: str
    code: str

    @property
    def name(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"

    @property
    def partial(self) -> bool:
        return self.code.lstrip().startswith(PARTIAL)


def blocks(page: Path) -> list[Snippet]:
    """Every fenced block of a page, with its language."""
    found: list[Snippet] = []
    lang: str | None = None
    start = 0
    body: list[str] = []
    for number, line in enumerate(page.read_text(encoding="utf-8").splitlines(), start=1):
        fence = _FENCE.match(line)
        if lang is None and fence is not None:
            lang, start, body = fence.group(1), number, []
        elif lang is not None and line.strip() == "```":
            found.append(Snippet(page, start, lang, "\n".join(body) + "\n"))
            lang = None
        elif lang is not None:
            body.append(line)
    return found


def snippets(lang: str) -> list[Snippet]:
    return [s for page in PAGES for s in blocks(page) if s.lang == lang]


def readme_program() -> Snippet:
    """The README's complete own-workflow example: its one snippet that runs as a program."""
    programs = [s for s in snippets("python") if s.page == README and 'if __name__ == "__main__":' in s.code]
    assert len(programs) == 1
    return programs[0]
