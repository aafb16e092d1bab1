"""The engine imports only the standard library, its data libraries and itself; no
module of Caliber is on an import cycle; the command line and the sample generator are
packages of small modules."""

from __future__ import annotations

import ast
import graphlib
import importlib
import itertools
import sys
from pathlib import Path

import grimp
import pytest

import caliber.engine

ENGINE = Path(caliber.engine.__file__).parent
# the analytics import scikit-learn, SciPy, SHAP and the optimizer inside the functions
# that need them (see caliber.engine.analytics)
ALLOWED_THIRD_PARTY = {
    "polars",
    "fastexcel",
    "olefile",  # reads an .xls compound file for the checks before fastexcel parses it
    "pyarrow",
    "numpy",
    "sklearn",
    "scipy",
    "shap",
    "bayes_opt",
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def test_engine_imports_only_allowed_modules() -> None:
    offenders: dict[str, set[str]] = {}
    for path in sorted(ENGINE.rglob("*.py")):
        for module in _imports(path):
            top = module.split(".")[0]
            if module.startswith("caliber."):
                ok = module == "caliber.engine" or module.startswith("caliber.engine.")
            else:
                ok = top in sys.stdlib_module_names or top in ALLOWED_THIRD_PARTY
            if not ok:
                offenders.setdefault(path.name, set()).add(module)
    assert offenders == {}


def test_the_check_sees_imports() -> None:
    found = _imports(ENGINE / "pipeline.py")
    assert "polars" in found
    assert "caliber.engine.config" in found


def test_cli_queue_names_match_the_celery_app() -> None:
    from caliber.cli.serving import QUEUES as CLI_QUEUES
    from caliber.jobs.celery_app import QUEUES

    assert CLI_QUEUES == QUEUES


def _import_cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Cycles among the graph's modules, each as [a, b, ..., a] where every module
    imports the next; one cycle per import removed, until none is left."""
    imports = {
        module: set(graph.find_modules_directly_imported_by(module)) for module in graph.modules
    }
    cycles: list[list[str]] = []
    while True:
        try:
            graphlib.TopologicalSorter(imports).prepare()
        except graphlib.CycleError as exc:
            # graphlib lists each module before one that depends on (imports) it
            cycle = list(reversed(exc.args[1]))
            cycles.append(cycle)
            imports[cycle[0]].discard(cycle[1])
        else:
            return cycles


def _describe(graph: grimp.ImportGraph, cycle: list[str]) -> str:
    steps = [cycle[0]]
    for importer, imported in itertools.pairwise(cycle):
        lines = graph.get_import_details(importer=importer, imported=imported)
        where = f" (line {lines[0]['line_number']}: {lines[0]['line_contents']})" if lines else ""
        steps.append(f"-> {imported}{where}")
    return "\n  ".join(steps)


def test_no_import_cycle_in_caliber() -> None:
    """No module of Caliber imports, directly or through others, a module that imports it:
    imports inside functions and under TYPE_CHECKING count too, since a reader following
    the imports goes round in circles all the same (grimp records both)."""
    graph = grimp.build_graph("caliber", cache_dir=None)
    cycles = _import_cycles(graph)
    assert not cycles, "import cycles:\n" + "\n".join(_describe(graph, c) for c in cycles)


def test_the_cycle_check_sees_a_cycle() -> None:
    graph = grimp.ImportGraph()
    graph.add_import(importer="pkg.a", imported="pkg.b", line_number=3, line_contents="import b")
    graph.add_import(importer="pkg.b", imported="pkg.c")
    graph.add_import(importer="pkg.c", imported="pkg.a")
    graph.add_import(importer="pkg.c", imported="pkg.d")
    cycles = _import_cycles(graph)
    assert len(cycles) == 1
    assert cycles[0][0] == cycles[0][-1]
    assert set(cycles[0]) == {"pkg.a", "pkg.b", "pkg.c"}
    for importer, imported in itertools.pairwise(cycles[0]):
        assert graph.direct_import_exists(importer=importer, imported=imported)
    assert "(line 3: import b)" in _describe(graph, ["pkg.a", "pkg.b", "pkg.c", "pkg.a"])


@pytest.mark.parametrize("package", ["caliber.cli", "caliber.sample"])
def test_split_packages_hold_small_modules_that_say_what_they_are_for(package: str) -> None:
    """cli.py (750 lines) and sample.py (719) were split along their seams (issue 15)."""
    found = importlib.import_module(package)
    assert hasattr(found, "__path__"), f"{package} is one module, not a package"
    for path in sorted(Path(found.__path__[0]).glob("*.py")):
        text = path.read_text(encoding="utf-8")
        assert text.count("\n") <= 400, f"{package}: {path.name} has over 400 lines"
        assert ast.get_docstring(ast.parse(text)), f"{package}: {path.name} has no docstring"
