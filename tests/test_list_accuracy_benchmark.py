"""The list-accuracy benchmark without its long run: the simulator gives what its docstring
claims, the truth matches a hand-worked example, the targets are judged as documented, and
the script's arguments. A real run is `python benchmarks/list_accuracy.py`."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "list_accuracy.py"
if str(ROOT / "benchmarks") not in sys.path:  # the benchmark's modules, as the script sees them
    sys.path.insert(0, str(ROOT / "benchmarks"))

from caliber.engine.config import MetricSpec  # noqa: E402
from list_accuracy import check_targets  # noqa: E402
from list_calibrate import (  # noqa: E402
    CALIBRATION_SIGMAS,
    ISSUE_BASELINE,
    closest,
    distance,
)
from list_measure import FIGURES, Measured, Method  # noqa: E402
from list_sim import IMPRESSIONS_SIGMA, SETUPS, simulate, truth  # noqa: E402


def _script(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def _cv(values: np.ndarray) -> float:
    return float(values.std() / values.mean())


def test_display_export_has_the_documented_volumes_rates_and_spreads() -> None:
    export = simulate(SETUPS["action-display"], seed=1)
    imps = export.impressions
    assert imps.size == 5_000
    assert 1_400 <= np.median(imps) <= 1_600
    assert 0.11 <= np.mean(imps < 250) <= 0.16  # the long tail's low end, under the floor
    assert 0.02 <= np.mean(imps > 30_000) <= 0.045  # and its high end
    assert np.max(imps) > 100_000
    ctr, conv = export.true["ctr"], export.true["conversion_rate"]
    assert 0.0015 <= ctr.mean() <= 0.0025
    assert 0.0002 <= conv.mean() <= 0.0004
    assert 0.45 <= _cv(ctr) <= 0.55
    assert 0.45 <= _cv(conv) <= 0.55
    # about three sites in four within 0.1-0.3 % CTR, nine in ten in 0.01-0.05 % conversions
    assert 0.6 <= np.mean((ctr >= 0.001) & (ctr <= 0.003)) <= 0.85
    assert 0.8 <= np.mean((conv >= 0.0001) & (conv <= 0.0005)) <= 0.95
    # binomial draws on the impressions: the observed CTR of the big sites is the true one
    clicks = export.counts["Clicks"]
    assert (clicks <= imps).all()
    big = imps >= 100_000
    expected = imps[big] * ctr[big]
    assert (np.abs(clicks[big] - expected) <= 4 * np.sqrt(expected * (1 - ctr[big]))).all()
    # spend from the true CPM, to the cent
    assert np.allclose(export.spend, np.round(imps * export.true["cpm"] / 1000, 2))
    assert 2.7 <= np.median(export.true["cpm"]) <= 3.3


def test_a_longer_tail_keeps_the_median_and_puts_more_impressions_in_the_top_sites() -> None:
    def top_share(sigma: float) -> float:
        imps = np.sort(simulate(SETUPS["action-display"], 1, impressions_sigma=sigma).impressions)
        assert 1_350 <= np.median(imps) <= 1_650
        return float(imps[-50:].sum() / imps.sum())  # the top 1 % of the 5,000 sites

    assert 0.28 <= top_share(IMPRESSIONS_SIGMA) <= 0.4  # "about a third of the impressions"
    assert top_share(2.0) > top_share(1.5) + 0.05


def test_video_export_counts_nest_and_its_rates_are_the_documented_ones() -> None:
    export = simulate(SETUPS["awareness-video"], seed=2, domains=2_000)
    counts, true = export.counts, export.true
    imps = export.impressions
    assert (counts["Sampled Viewed Impressions"] <= counts["Sampled Tracked Impressions"]).all()
    assert (counts["Sampled Tracked Impressions"] <= imps).all()
    assert (counts["Player Completed Views"] <= counts["Player Starts"]).all()
    assert (counts["Player Mute"] <= counts["Player Starts"]).all()
    assert (counts["Player Starts"] <= imps).all()
    completion = true["player_completion_rate"]
    assert completion.min() >= 0.45
    assert completion.max() <= 0.92
    assert true["player_errors_rate"].max() <= 0.15
    assert 12 <= np.median(true["cpm"]) <= 18


def test_the_same_seed_writes_the_same_export(tmp_path: Path) -> None:
    setup = SETUPS["awareness-display"]
    first, again, other = tmp_path / "a.csv", tmp_path / "b.csv", tmp_path / "c.csv"
    simulate(setup, seed=3, domains=300).write_csv(first)
    simulate(setup, seed=3, domains=300).write_csv(again)
    simulate(setup, seed=4, domains=300).write_csv(other)
    assert first.read_bytes() == again.read_bytes() != other.read_bytes()
    header = first.read_text(encoding="utf-8").splitlines()[0]
    assert header == (
        "Site,Impressions,Advertiser Cost (Adv Currency),Clicks,"
        "All Last Click + View Conversions,Ad Load - XL (Excessive) - Impressions,"
        "Ad Refresh - Below 15s - Impressions,IAS Display Fully In View 1 Second Rate"
    )


def test_truth_is_the_contract_on_the_true_values_worked_by_hand() -> None:
    """a (weight 0.75, higher is better) and b (0.25, lower is better) over the four sites
    with >= 250 impressions (the fifth, 249, is not eligible and does not move lo / hi):
    a: lo 0.1, hi 0.5 -> 0, 50, 25, 100; b: lo 2, hi 6 -> 100, 50, 50, 0;
    scores 25, 50, 31.25, 75; linear quantiles of (25, 31.25, 50, 75):
    q25 = 25 + 0.75 x 6.25 = 29.6875, q50 = 31.25 + 0.5 x 18.75 = 40.625,
    q75 = 50 + 0.25 x 25 = 56.25."""
    metrics = (MetricSpec("a", 0.75), MetricSpec("b", 0.25, higher_is_better=False))
    values = {
        "a": np.array([0.1, 0.3, 0.2, 0.5, 9.0]),
        "b": np.array([2.0, 4.0, 4.0, 6.0, 0.0]),
    }
    result = truth(values, metrics, np.array([300, 250, 1_000, 400, 249], dtype=np.int64))
    assert result.score[:4].tolist() == pytest.approx([25.0, 50.0, 31.25, 75.0])
    assert math.isnan(result.score[4])
    assert result.eligible.tolist() == [True, True, True, True, False]
    assert result.top_quartile.tolist() == [False, False, False, True, False]
    assert result.bottom_quartile.tolist() == [True, False, False, False, False]
    assert result.top_half.tolist() == [False, True, False, True, False]


def test_truth_of_a_metric_without_spread_is_50_and_a_missing_value_0() -> None:
    metrics = (MetricSpec("a", 0.5), MetricSpec("b", 0.5))
    values = {"a": np.array([0.2, 0.2, 0.2]), "b": np.array([1.0, 3.0, np.nan])}
    result = truth(values, metrics, np.array([500, 500, 500], dtype=np.int64))
    assert result.score.tolist() == pytest.approx([25.0, 75.0, 25.0])


def test_truth_between_given_bounds_clips_as_the_contract() -> None:
    """--truth-bounds observed: a between 0 and 0.4 (a run's fitted bounds), so 0.5 is
    clipped to 100; b is constant in the bounds given (50)."""
    metrics = (MetricSpec("a", 0.5), MetricSpec("b", 0.5))
    values = {"a": np.array([0.1, 0.2, 0.5, 0.0]), "b": np.array([1.0, 2.0, 3.0, 4.0])}
    bounds = {"a": (0.0, 0.4), "b": (2.0, 2.0)}
    result = truth(values, metrics, np.full(4, 300, dtype=np.int64), bounds=bounds)
    assert result.score.tolist() == pytest.approx([37.5, 50.0, 75.0, 25.0])


def _method(**figures: float) -> Method:
    run = Measured(figures=figures, whitelist=100, blacklist=100)
    return Method("confidence 0.8", [run, run], [0.2, 0.2])


def test_targets_are_judged_on_the_means_at_their_bounds() -> None:
    met = _method(
        whitelist_precision=0.90,
        blacklist_precision=0.95,
        blacklist_top_half=0.01,
        spend_share=0.30,
    )
    assert [ok for _, _, ok in check_targets(met)] == [True, True, True, True]
    missed = _method(
        whitelist_precision=0.89,
        blacklist_precision=math.nan,  # an empty blacklist has no precision: missed
        blacklist_top_half=0.02,
        spend_share=0.29,
    )
    assert [ok for _, _, ok in check_targets(missed)] == [False, False, False, False]


def test_help_names_the_options() -> None:
    run = _script("--help")
    assert run.returncode == 0, run.stderr
    for option in (
        "--seeds",
        "--quick",
        "--setups",
        "--levels",
        "--domains",
        "--impressions-sigma",
        "--truth-bounds",
        "--check",
        "--calibrate",
        "--sigmas",
    ):
        assert option in run.stdout


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (("--seeds", "0"), "must be >= 1"),
        (("--domains", "x"), "--domains"),
        (("--setups", "action-ctv"), "unknown setup action-ctv"),
        (("--levels", "0.995"), "between 0.5 and 0.99"),
        (("--levels", "high"), "not a level"),
        (("--impressions-sigma", "0"), "must be > 0"),
        (("--truth-bounds", "noisy"), "invalid choice"),
        (("--levels", "none", "--check"), "--check needs level 0.8"),
        (("--setups", "awareness-video", "--check"), "--check needs level 0.8"),
        (("--calibrate", "--check"), "--calibrate chooses the sigma"),
        (("--calibrate", "--impressions-sigma", "2"), "--calibrate chooses the sigma"),
        (("--sigmas", "1.5,2"), "--sigmas is for --calibrate"),
        (("--calibrate", "--sigmas", "1.5,0"), "must be > 0"),
    ],
)
def test_bad_arguments_exit_2_naming_the_problem(args: tuple[str, ...], named: str) -> None:
    run = _script(*args)
    assert run.returncode == 2
    assert named in run.stderr


def test_a_tiny_classic_run_prints_every_setup() -> None:
    """Every simulated setup reads and scores through the real CLI (a few hundred sites)."""
    run = _script("--quick", "--domains", "400", "--levels", "none")
    assert run.returncode == 0, run.stderr
    for label in (
        "trade_desk / action / display",
        "trade_desk / awareness / display",
        "trade_desk / awareness / video",
        "classic (min impressions 250)",
        "classic, min impressions 5,000",
        "the true quartiles (reference)",
    ):
        assert label in run.stdout
    assert "targets: not measured" in run.stdout


# ---------------------------------------------------------------------------
# the impressions sigma, calibrated on the issue's baseline rows
# ---------------------------------------------------------------------------


def _baseline(shift: float = 0.0, **methods: Method) -> dict[str, Method]:
    """The issue's baseline figures as measured methods, each figure + ``shift``."""
    made = {
        key: _method(**{f: v + shift for f, v in zip(FIGURES, values, strict=True)})
        for key, values in ISSUE_BASELINE.items()
    }
    return made | methods


def test_the_calibration_targets_are_the_issues_baseline_rows() -> None:
    # whitelist top-q, blacklist bottom-q, blacklist top-half, spend (issue 17's table)
    assert ISSUE_BASELINE == {
        "classic": (0.57, 0.65, 0.13, 0.44),
        "floor": (0.71, 0.74, 0.06, 0.41),
        "shrunk": (0.62, 0.68, 0.09, 0.60),
    }
    assert "confidence" not in " ".join(ISSUE_BASELINE)
    assert IMPRESSIONS_SIGMA in CALIBRATION_SIGMAS  # the default is a calibrated value


def test_the_distance_is_the_squared_points_over_the_baseline_spend_figures() -> None:
    assert distance(_baseline()) == pytest.approx(0.0)
    # by default the spend figures alone (what the tail governs): 3 x 4
    assert distance(_baseline(0.02)) == pytest.approx(12.0)
    # every one of the 12 figures 2 points off: 12 x 4
    assert distance(_baseline(0.02), FIGURES) == pytest.approx(48.0)
    # the confident lists, however good or bad, do not count
    perfect = _method(
        whitelist_precision=1.0, blacklist_precision=1.0, blacklist_top_half=0.0, spend_share=1.0
    )
    assert distance(_baseline(0.02, **{"confidence-0.8": perfect})) == pytest.approx(12.0)
    # a baseline method missing: no distance
    assert math.isnan(distance({"classic": _baseline()["classic"]}))


def test_the_closest_sigma_wins_ties_to_the_smaller_and_never_nan() -> None:
    assert closest({1.5: 134.2, 1.625: 131.5, 1.75: 151.7}) == 1.625
    assert closest({2.0: 10.0, 1.0: 10.0, 1.5: math.nan}) == 1.0
    with pytest.raises(ValueError, match="no sigma"):
        closest({1.5: math.nan})


def test_a_tiny_calibration_prints_each_sigma_against_the_issue() -> None:
    run = _script("--calibrate", "--sigmas", "1.5,2", "--quick", "--domains", "300", "--json")
    assert run.returncode == 0, run.stderr
    assert "classic 250 (57/65/13/44)" in run.stdout
    assert "floor 5,000 (71/74/6/41)" in run.stdout
    assert "shrunk, quartiles (62/68/9/60)" in run.stdout
    payload = json.loads(run.stdout.strip().splitlines()[-1])
    assert set(payload["sigmas"]) == {"1.5", "2"}
    for measured in payload["sigmas"].values():
        assert set(measured["figures"]) == {"classic", "floor", "shrunk"}  # no confidence
        spend = FIGURES.index("spend_share")
        again = sum(
            (100 * (values[spend] - ISSUE_BASELINE[key][spend])) ** 2
            for key, values in measured["figures"].items()
        )
        assert measured["distance"] == pytest.approx(again, rel=0.002)  # figures rounded
    best = min(payload["sigmas"], key=lambda k: payload["sigmas"][k]["distance"])
    assert payload["closest"] == float(best)
    assert f"closest to the issue: sigma {best}" in run.stdout
