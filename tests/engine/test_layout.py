"""The engine's modules stay small enough to read whole, each says what it is for, and the
input catalogue stays data apart from the code that reads files against it."""

from __future__ import annotations

import ast
from pathlib import Path

import caliber.engine

ENGINE = Path(caliber.engine.__file__).parent
MAX_LINES = 400


def _modules() -> list[Path]:
    return sorted(ENGINE.rglob("*.py"))


def _engine_imports(path: Path) -> set[str]:
    """The engine modules ``path`` imports at run time (not under TYPE_CHECKING)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    checking = {
        id(node)
        for block in ast.walk(tree)
        if isinstance(block, ast.If) and ast.unparse(block.test) == "TYPE_CHECKING"
        for node in ast.walk(block)
    }
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in checking:
            continue
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {m for m in found if m.startswith("caliber.")}


def test_every_engine_module_fits_on_a_readers_mind() -> None:
    long = {
        str(path.relative_to(ENGINE)): lines
        for path in _modules()
        if (lines := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert long == {}


def test_every_engine_module_says_what_it_is_for() -> None:
    silent = [
        str(path.relative_to(ENGINE))
        for path in _modules()
        if path.read_text(encoding="utf-8").strip()
        and not ast.get_docstring(ast.parse(path.read_text(encoding="utf-8")))
    ]
    assert silent == []


def test_the_input_catalogue_is_data_apart_from_the_code_that_reads_files() -> None:
    assert _engine_imports(ENGINE / "columns.py") == set()
    assert _engine_imports(ENGINE / "metrics.py") == {"caliber.engine.columns"}
    assert "caliber.engine.columns" in _engine_imports(ENGINE / "headers.py")
