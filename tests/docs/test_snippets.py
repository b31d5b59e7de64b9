"""The README and docs/ say only what works: every Python snippet imports only the public face (`from app
import ...`, plus the standard library, temporalio and httpx), compiles and type-checks under mypy strict; the
README's own-workflow example runs for real in all three modes; every YAML pipeline snippet is a valid
pipeline; every relative link and anchor resolves; the README fits on a page.

A snippet that is only a fragment starts with the line `# snippet: partial`: it must still parse and import only
public names, but is not type-checked. Keep them rare.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import mypy.api
import pytest

from app.pipeline.file import load_pipeline
from tests.docs.pages import PAGES, README, ROOT, Snippet, readme_program, snippets
from tests.stack import Stack

README_MAX_LINES = 250
# Third-party packages a user's code may import beside the face: what stagegate itself stands on.
ALLOWED_PACKAGES = {"temporalio", "httpx"}
RUN_TIMEOUT = 180.0

_LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
_ANCHOR_TAG = re.compile(r'<a id="([^"]+)"')

PYTHON = snippets("python")


def forbidden_imports(code: str) -> list[str]:
    """Imports a user's code copied from the docs must not need: app's internals, tests, scripts, cli, others."""
    allowed = set(sys.stdlib_module_names) | ALLOWED_PACKAGES | {"__future__"}
    bad: list[str] = []
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                top = alias.name.split(".")[0]
                if top == "app" or top not in allowed:
                    bad.append(f"import {alias.name}")
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level or module == "app":
                if node.level:
                    bad.append(f"from {'.' * node.level}{module} import ...")
                continue
            if module.split(".")[0] not in allowed:
                bad.append(f"from {module} import ...")
    return bad


def test_the_pages_have_python_snippets() -> None:
    assert any(s.page == README for s in PYTHON)
    assert len([s for s in PYTHON if not s.partial]) >= 1


@pytest.mark.parametrize("snippet", PYTHON, ids=lambda s: s.name)
def test_snippet_compiles_and_imports_only_public_names(snippet: Snippet) -> None:
    compile(snippet.code, snippet.name, "exec")
    assert forbidden_imports(snippet.code) == [], f"{snippet.name} imports more than the public face"


def test_the_import_rule_refuses_internals() -> None:
    """The rule the docs are held to, shown to bite."""
    assert forbidden_imports("from app import StageGate, Mode\nimport asyncio\nfrom temporalio import workflow\n") == []
    assert forbidden_imports("from app.gate.stage_gate import StageGate\n") == ["from app.gate.stage_gate import ..."]
    assert forbidden_imports("import app.gate\n") == ["import app.gate"]
    assert forbidden_imports("from tests.gate import x\nfrom scripts.runs import y\n") == [
        "from tests.gate import ...",
        "from scripts.runs import ...",
    ]
    assert forbidden_imports("def f() -> None:\n    from cli.main import app\n") == ["from cli.main import ..."]
    assert forbidden_imports("from .x import y\n") == ["from .x import ..."]


def test_python_snippets_type_check(tmp_path: Path) -> None:
    """mypy strict (the project's settings) over every complete snippet, each as a module of its own."""
    files: dict[str, Snippet] = {}
    for number, snippet in enumerate(s for s in PYTHON if not s.partial):
        path = tmp_path / f"snippet_{number}.py"
        path.write_text(snippet.code, encoding="utf-8")
        files[path.name] = snippet
    stdout, stderr, status = mypy.api.run(
        [
            *(str(tmp_path / name) for name in files),
            "--config-file",
            str(ROOT / "pyproject.toml"),
            "--cache-dir",
            str(ROOT / ".mypy_cache"),
        ]
    )
    assert status == 0, _on_the_page(stdout, files) + stderr


def _on_the_page(report: str, files: dict[str, Snippet]) -> str:
    """mypy's `snippet_3.py:12: error` as `docs/gate.md:90: error`: the line in the page, not in the snippet."""

    def page_line(match: re.Match[str]) -> str:
        snippet = files[Path(match.group(1)).name]
        return f"{snippet.page.relative_to(ROOT)}:{snippet.line + int(match.group(2))}:"

    # Any folder: mypy's cache can report a snippet unchanged since an earlier run under that run's folder.
    return re.sub(r"(\S*snippet_\d+\.py):(\d+):", page_line, report)


def test_readme_fits_on_a_page() -> None:
    lines = len(README.read_text(encoding="utf-8").splitlines())
    assert lines <= README_MAX_LINES, f"README.md has {lines} lines; move detail to docs/"


@pytest.mark.parametrize(
    "snippet", [s for s in snippets("yaml") if s.code.startswith("version:")], ids=lambda s: s.name
)
def test_pipeline_snippets_are_valid_pipelines(snippet: Snippet, tmp_path: Path) -> None:
    path = tmp_path / "pipeline.yaml"
    path.write_text(snippet.code, encoding="utf-8")
    load_pipeline(path)  # PipelineError names file, line, stage and field


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*]", "", heading.strip().lower())
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def _prose(page: Path) -> str:
    """The page without its fenced blocks (links and headings inside code are not links or headings)."""
    out: list[str] = []
    fenced = False
    for line in page.read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced:
            out.append(line)
    return "\n".join(out)


def anchors(page: Path) -> set[str]:
    """Every anchor a link may name on a page: headings (with GitHub's -1, -2 for repeats) and <a id>."""
    found: set[str] = set()
    text = _prose(page)
    for line in text.splitlines():
        if line.startswith("#"):
            slug = _slug(line.lstrip("#"))
            candidate, n = slug, 0
            while candidate in found:
                n += 1
                candidate = f"{slug}-{n}"
            found.add(candidate)
    found.update(_ANCHOR_TAG.findall(text))
    return found


def test_relative_links_and_anchors_resolve() -> None:
    broken: list[str] = []
    for page in PAGES:
        for target in _LINK.findall(_prose(page)):
            if re.match(r"^[a-z]+:", target):
                continue  # http(s), mailto: not ours to check offline
            path_part, _, anchor = target.partition("#")
            dest = (page.parent / path_part).resolve() if path_part else page
            if not dest.exists():
                broken.append(f"{page.relative_to(ROOT)}: {target} (no such file)")
            elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
                broken.append(f"{page.relative_to(ROOT)}: {target} (no such anchor)")
    assert broken == []


def test_readme_own_workflow_runs_in_every_mode(stack: Stack, tmp_path: Path) -> None:
    """Copied as it stands into a file of its own and run, against the test stack's dev server, callback server
    (the same signing secret) and service mock: both stages complete in each of the three modes."""
    program = tmp_path / "onboarding.py"
    program.write_text(readme_program().code, encoding="utf-8")
    done = subprocess.run(  # our own interpreter on the README's own code
        [sys.executable, str(program)],
        cwd=tmp_path,
        env=stack.env,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split("\n")[:3] == [
        "signal completed completed",
        "token completed completed",
        "update completed completed",
    ], done.stdout
