"""The analyst's modules stay ones a reader can hold: each says what it is for and keeps
under ~400 lines (issue 15 split the offline analyst and the service along their seams)."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

import caliber.ai

PACKAGE = Path(caliber.ai.__file__).parent
MODULES = sorted(PACKAGE.rglob("*.py"))
MAX_LINES = 400
STDLIB = frozenset(sys.stdlib_module_names)


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_each_module_says_what_it_is_for_and_stays_short(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert ast.get_docstring(ast.parse(text)), f"{path.name} has no module docstring"
    lines = text.count("\n")
    assert lines <= MAX_LINES, f"{path.name} has {lines} lines (at most {MAX_LINES})"


def test_the_offline_analyst_is_its_own_package_of_pure_text() -> None:
    """The offline analyst reads only a context (no database, no provider, no settings):
    its modules import the standard library and each other, nothing else."""
    paths = sorted((PACKAGE / "offline").glob("*.py"))
    assert len(paths) > 1, "the offline analyst is a package of modules"
    for path in paths:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                assert name.startswith("caliber.ai.offline") or (top in STDLIB), (
                    f"{path.name} imports {name}"
                )
