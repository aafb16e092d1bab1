"""benchmarks/score_file.py's --confidence (issue 17: with confidence on, the 1M-row run
takes at most 1.5x the classic one): the ratio is measured in the same run and judged.
A tiny file only: the script's arguments and its figures, not the machine's speed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "score_file.py"


def _script(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


def test_confidence_is_timed_beside_the_classic_run_and_judged(tmp_path: Path) -> None:
    run = _script(
        "--rows", "2000", "--repeats", "2", "--confidence", "0.8", "--keep", str(tmp_path), "--json"
    )
    assert run.returncode == 0, run.stderr
    assert "caliber score --confidence 0.8" in run.stdout
    assert "ratio (confidence / classic, best)" in run.stdout
    assert "confidence / classic <= 1.5" in run.stdout
    figures = json.loads(run.stdout.strip().splitlines()[-1])
    assert figures["confidence"] == 0.8
    # the ratio of the unrounded best times; the seconds are rounded to the millisecond
    assert figures["confidence_ratio"] == pytest.approx(
        figures["confidence_s"] / figures["caliber_s"], rel=0.02
    )
    assert figures["confidence_ratio_target"] == 1.5
    assert figures["confidence_ratio_met"] == (figures["confidence_ratio"] <= 1.5)
    # the confident run really wrote the confident lists; the classic run did not
    assert (tmp_path / "confidence-out-2" / "whitelist_classic.csv").exists()
    assert not (tmp_path / "score-out-2" / "whitelist_classic.csv").exists()
    # each confidence run right after its classic one
    logs = sorted((tmp_path / "logs").glob("*.stdout"), key=lambda p: p.stat().st_mtime_ns)
    order = [p.stem for p in logs if not p.stem.startswith(("sample", "pyarrow"))]
    assert order == ["score-1", "confidence-1", "score-2", "confidence-2"]


def test_without_confidence_the_figures_are_the_classic_ones(tmp_path: Path) -> None:
    run = _script("--rows", "1000", "--repeats", "1", "--keep", str(tmp_path), "--json")
    assert run.returncode == 0, run.stderr
    assert "caliber score --confidence" not in run.stdout
    assert "confidence / classic" not in run.stdout
    assert "confidence_ratio" not in json.loads(run.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("level", ["0.3", "1", "high"])
def test_a_bad_confidence_level_exits_2(level: str) -> None:
    run = _script("--confidence", level)
    assert run.returncode == 2
    assert "--confidence" in run.stderr
