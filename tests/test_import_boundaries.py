"""Who may import whom lives in pyproject.toml ([tool.importlinter], `lint-imports`, run by `just lint` in CI):
layers, forbidden imports, no cycles. This module checks the one rule those contracts cannot say: nobody imports
a conftest (pytest loads it; its helpers belong in a module).
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("app", "cli", "service_mock", "scripts", "tests")


def _imported_modules(path: Path) -> set[str]:
    """Every absolute module name `path` imports (`import a.b`, `from a.b import c` both give `a.b`)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_nobody_imports_a_conftest() -> None:
    files = sorted(path for folder in PACKAGES for path in (ROOT / folder).rglob("*.py"))
    assert files
    found = {
        str(p.relative_to(ROOT)): [m for m in _imported_modules(p) if m.split(".")[-1] == "conftest"] for p in files
    }
    offenders = {name: modules for name, modules in found.items() if modules}
    assert not offenders, f"conftest.py holds fixtures only; import its helpers from a module: {offenders}"
