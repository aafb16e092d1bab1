"""The engine imports only the standard library, its data libraries and itself."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

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
