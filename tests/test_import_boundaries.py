"""Who may import whom, checked on the source: shipped code never imports `tests`; nobody imports a conftest."""

from __future__ import annotations

import ast
from collections.abc import Callable
from pathlib import Path

import pytest

from scripts.processes import ROOT

SHIPPED = ("app", "cli", "service_mock", "scripts")


def _imported_modules(path: Path) -> set[str]:
    """Every absolute module name `path` imports (`import a.b`, `from a.b import c` both give `a.b`)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _offenders(folders: tuple[str, ...], bad: Callable[[str], bool]) -> dict[str, list[str]]:
    """File -> the modules it imports that `bad` flags, for every Python file under `folders` that has any."""
    files = sorted(path for folder in folders for path in (ROOT / folder).rglob("*.py"))
    assert files, f"no Python files under {folders}"
    found = {str(path.relative_to(ROOT)): sorted(filter(bad, _imported_modules(path))) for path in files}
    return {name: modules for name, modules in found.items() if modules}


@pytest.mark.parametrize("folder", SHIPPED)
def test_shipped_code_never_imports_tests(folder: str) -> None:
    offenders = _offenders((folder,), lambda module: module.split(".")[0] == "tests")
    assert not offenders, f"shipped code imports tests (move the helper out of tests/): {offenders}"


def test_nobody_imports_a_conftest() -> None:
    offenders = _offenders(("tests", *SHIPPED), lambda module: module.split(".")[-1] == "conftest")
    assert not offenders, f"conftest.py holds fixtures only; import its helpers from a module: {offenders}"
