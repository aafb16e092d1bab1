"""The shape of caliber.files (issue 15): the checks an upload passes before it is stored
(its name, its first bytes) are pure functions apart from the file operations, and every
module stays small enough to read in one sitting."""

from __future__ import annotations

import ast
from pathlib import Path

import caliber.files

FILES = Path(caliber.files.__file__).parent
MAX_LINES = 400


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def test_upload_checks_need_no_database_storage_or_engine() -> None:
    imported = _imports(FILES / "checks.py")
    caliber_modules = {m for m in imported if m.split(".")[0] == "caliber"}
    assert caliber_modules == {"caliber.core.errors"}
    assert not {m.split(".")[0] for m in imported} & {"sqlalchemy", "polars"}


def test_file_operations_leave_reading_through_the_engine_to_its_module() -> None:
    assert not {m for m in _imports(FILES / "service.py") if m.startswith("caliber.engine")}


def test_every_module_is_under_the_size_limit() -> None:
    sizes = {p.name: len(p.read_text(encoding="utf-8").splitlines()) for p in FILES.glob("*.py")}
    assert {name: lines for name, lines in sizes.items() if lines > MAX_LINES} == {}
