"""The shape of caliber.reports (issue 15): CSV cells and writing apart from what each export
holds, the PDF's sections, blocks, charts and wording in their own modules, the charts and
the text helpers free of ReportLab, and every module small enough to read in one sitting."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import caliber.reports

REPORTS = Path(caliber.reports.__file__).parent
MAX_LINES = 400


def _top_imports(path: Path) -> set[str]:
    """The top-level packages ``path`` imports (absolute imports only)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


@pytest.mark.parametrize("module", ["cells.py", "csv_writer.py", "formats.py"])
def test_csv_and_json_exports_need_no_pdf_library(module: str) -> None:
    assert not _top_imports(REPORTS / module) & {"reportlab", "matplotlib", "PIL"}


@pytest.mark.parametrize("module", ["theme.py", "text.py", "charts.py"])
def test_pdf_charts_and_text_are_free_of_reportlab(module: str) -> None:
    assert "reportlab" not in _top_imports(REPORTS / "pdf" / module)


def test_every_module_is_under_the_size_limit() -> None:
    sizes = {
        str(path.relative_to(REPORTS)): len(path.read_text(encoding="utf-8").splitlines())
        for path in REPORTS.rglob("*.py")
    }
    assert {name: lines for name, lines in sizes.items() if lines > MAX_LINES} == {}
