"""`caliber explain`, `caliber outliers` and `caliber weights` on a real-format export."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from caliber.cli.main import main
from caliber.engine.config import Setup
from caliber.engine.pipeline import score
from tests.engine.exports import make_export

SETUP = ["-p", "trade_desk", "-g", "awareness", "-c", "display"]


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cli") / "td.csv"
    path.write_text(make_export("trade_desk", "display", seed=5, names=60), encoding="utf-8")
    return path


def _json(capsys: pytest.CaptureFixture[str], *args: str) -> Any:
    assert main([*args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_explain_names_the_metrics_and_a_domain(
    export: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    result = score(export, Setup.create("trade_desk", "awareness", "display"))
    metrics = [m.name for m in result.resolved.metrics]
    campaign = _json(capsys, "explain", str(export), *SETUP)
    assert sorted(m["metric"] for m in campaign["importances"]) == sorted(metrics)
    worst = result.results.row(-1, named=True)["domain"]
    row = _json(capsys, "explain", str(export), *SETUP, "--domain", worst)
    total = sum(a["attribution"] for a in row["attributions"])
    assert total == pytest.approx(row["score"] - row["campaign_average_score"], abs=0.01)
    assert main(["explain", str(export), *SETUP, "--domain", worst]) == 0
    table = capsys.readouterr().out
    assert f"Why {worst} scored" in table
    assert "CTR" in table


@pytest.mark.parametrize("method", ["zscore", "iqr", "isolation_forest", "combined"])
def test_outliers_table_and_json(
    export: Path, capsys: pytest.CaptureFixture[str], method: str
) -> None:
    report = _json(capsys, "outliers", str(export), *SETUP, "--method", method)
    assert report["method"] == method
    assert report["count"] == len(report["names"])
    assert main(["outliers", str(export), *SETUP, "--method", method]) == 0
    assert "severity" in capsys.readouterr().out


def test_weights_suggest_and_optimize(export: Path, capsys: pytest.CaptureFixture[str]) -> None:
    payload = _json(
        capsys,
        "weights",
        str(export),
        *SETUP,
        "--method",
        "correlation",
        "--target",
        "conversions",
        "--optimize",
        "grid",
    )
    suggested = payload["suggested"]["weights"]
    assert sum(suggested.values()) == pytest.approx(1.0)
    optimized = payload["optimized"]
    assert optimized["agreement"] >= optimized["baseline_agreement"]
    assert main(["weights", str(export), *SETUP, "--target", "conversions"]) == 0
    out = capsys.readouterr().out
    assert "caliber score ... --weights" in out


def test_bad_analytics_input_is_one_line_exit_2(
    export: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cases = [
        (["explain", str(export), *SETUP, "--domain", "nope.example"], "nope.example"),
        (["outliers", str(export), *SETUP, "--contamination", "0.9"], "contamination"),
        (["outliers", str(export), *SETUP, "--columns", "colour"], "colour"),
        (["weights", str(export), *SETUP, "--target", "colour"], "colour"),
        (["weights", str(export), *SETUP, "--optimize", "grid"], "--target"),
        (["explain", str(export), *SETUP, "--method", "magic"], "magic"),
    ]
    for argv, named in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert err.startswith("caliber: error:")
        assert named in err
        assert len(err.strip().splitlines()) == 1


def test_help_does_not_import_the_heavy_libraries() -> None:
    code = (
        "import sys; from caliber.cli.main import build_parser; build_parser();"
        "print(sorted(m for m in ('sklearn', 'shap', 'scipy', 'bayes_opt', 'polars')"
        " if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
