"""Learned weights, weight optimization and label sensitivity (caliber.engine.analytics)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from decimal import Decimal

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from caliber.engine import pipeline
from caliber.engine.analytics.base import ScoredFrame
from caliber.engine.analytics.sensitivity import relabel, sensitivity, weighted_score
from caliber.engine.analytics.weights import (
    OPTIMIZERS,
    WEIGHT_METHODS,
    OptimizationResult,
    calculate_weights,
    optimize_weights,
)
from caliber.engine.config import Setup
from caliber.engine.errors import InvalidParameterError
from tests.engine.exports import SETUPS, make_export

METRICS = ("a", "b", "c", "d")
CURRENT = {"a": 0.1, "b": 0.2, "c": 0.3, "d": 0.4}
EQUAL = dict.fromkeys(METRICS, 0.25)


def _frame(
    normalized: dict[str, np.ndarray],
    current: dict[str, float],
    extra: dict[str, object] | None = None,
    lower: tuple[str, ...] = (),
) -> ScoredFrame:
    n = len(next(iter(normalized.values())))
    columns: dict[str, object] = {"domain": [f"site{i:04d}.com" for i in range(n)]}
    columns |= {m: v / 100.0 for m, v in normalized.items()}  # the raw metric
    columns |= {f"{m}_normalized": v for m, v in normalized.items()}
    columns |= extra or {}
    score = pl.sum_horizontal([pl.col(f"{m}_normalized") * w for m, w in current.items()])
    frame = pl.DataFrame(columns).with_columns(score.round(2).alias("score"))
    higher = {m: m not in lower for m in normalized}
    return ScoredFrame(frame, "domain", current, higher)


def _known(n: int = 400, seed: int = 0) -> ScoredFrame:
    """Four metrics; target = 0.6 a + 0.3 b + 0.1 c + 0 d + small noise."""
    rng = np.random.default_rng(seed)
    normalized = {m: rng.uniform(0.0, 100.0, n) for m in METRICS}
    target = (
        0.6 * normalized["a"]
        + 0.3 * normalized["b"]
        + 0.1 * normalized["c"]
        + rng.normal(0.0, 2.0, n)
    )
    conversions = rng.poisson(5, n)
    return _frame(normalized, CURRENT, {"target": target, "conversions": conversions})


@pytest.fixture(scope="module")
def known() -> ScoredFrame:
    return _known()


@pytest.fixture(scope="module")
def optimized(known: ScoredFrame) -> dict[str, OptimizationResult]:
    return {name: optimize_weights(known, "target", name, seed=0) for name in OPTIMIZERS}


@pytest.fixture(scope="module")
def export() -> ScoredFrame:
    text = make_export("trade_desk", "display", seed=3, names=80)
    result = pipeline.score(text.encode(), Setup.create("trade_desk", "action", "display"))
    return ScoredFrame.from_result(result)


def _assert_simplex(weights: dict[str, float], metrics: list[str]) -> None:
    assert list(weights) == metrics
    assert all(w >= 0 for w in weights.values())
    # 4-decimal values whose decimal sum is exactly 1 (as floats: within 1e-12)
    assert sum(Decimal(str(w)) for w in weights.values()) == 1
    assert all(round(w, 4) == w for w in weights.values())
    assert sum(weights.values()) == pytest.approx(1.0, abs=1e-12)


# -- calculate_weights ---------------------------------------------------------------------


@pytest.mark.parametrize("method", WEIGHT_METHODS)
def test_every_method_gives_non_negative_weights_summing_to_one(
    known: ScoredFrame, method: str
) -> None:
    custom = {"a": 3.0, "b": 1.0, "c": 0.0, "d": 1.0} if method == "custom" else None
    target = "target" if method in {"correlation", "mutual_info", "f_score"} else None
    result = calculate_weights(known, method, target, custom)
    _assert_simplex(result.weights, known.metrics)
    assert list(result.ranking) == sorted(known.metrics, key=lambda m: -result.weights[m])
    assert result.method == method
    assert result.ranking[0] in result.summary
    json.dumps(result.to_dict())


def test_custom_weights_are_normalized(known: ScoredFrame) -> None:
    result = calculate_weights(known, "custom", custom={"a": 3, "b": 1, "c": 0, "d": 1})
    assert result.weights == {"a": 0.6, "b": 0.2, "c": 0.0, "d": 0.2}
    assert result.raw == {"a": 3.0, "b": 1.0, "c": 0.0, "d": 1.0}


def test_rounding_remainder_goes_to_the_largest_weight() -> None:
    rng = np.random.default_rng(1)
    names = ["m1", "m2", "m3", "m4", "m5", "m6"]
    data = _frame({m: rng.uniform(0, 100, 30) for m in names}, dict.fromkeys(names, 1 / 6))
    weights = calculate_weights(data, "equal").weights
    assert sorted(weights.values()) == [0.1665] + [0.1667] * 5


@pytest.mark.parametrize("method", ["correlation", "mutual_info", "f_score"])
def test_target_methods_rank_the_known_driver_first(known: ScoredFrame, method: str) -> None:
    result = calculate_weights(known, method, "target", seed=0)
    assert result.ranking[:2] == ("a", "b")
    assert result.weights["a"] > result.weights["c"] >= result.weights["d"]
    assert result.target == "target"


def test_mutual_info_is_seeded(known: ScoredFrame) -> None:
    first = calculate_weights(known, "mutual_info", "target", seed=7)
    assert calculate_weights(known, "mutual_info", "target", seed=7) == first


def test_constant_target_falls_back_to_equal() -> None:
    rng = np.random.default_rng(2)
    data = _frame({m: rng.uniform(0, 100, 30) for m in METRICS}, CURRENT, {"flat": [5.0] * 30})
    for method in ("correlation", "f_score"):
        result = calculate_weights(data, method, "flat")
        assert result.weights == EQUAL
        assert any("fell back to equal" in note for note in result.notes)


def test_rows_without_a_target_are_left_out() -> None:
    rng = np.random.default_rng(3)
    values = [None if i % 4 == 0 else float(i) for i in range(40)]
    data = _frame({m: rng.uniform(0, 100, 40) for m in METRICS}, CURRENT, {"t": values})
    result = calculate_weights(data, "correlation", "t")
    assert any("10 row(s) without a t value" in note for note in result.notes)
    few = [float(i) if i < 9 else None for i in range(40)]
    data = _frame({m: rng.uniform(0, 100, 40) for m in METRICS}, CURRENT, {"t": few})
    with pytest.raises(InvalidParameterError, match="9 rows have a t value"):
        calculate_weights(data, "correlation", "t")


def test_a_metric_as_target_is_noted() -> None:
    rng = np.random.default_rng(4)
    normalized = {m: rng.uniform(0, 100, 50) for m in METRICS}
    data = _frame(normalized, CURRENT, lower=("b",))
    result = calculate_weights(data, "correlation", "a")
    assert result.ranking[0] == "a"
    assert any("also the scored metric a" in note for note in result.notes)
    notes = calculate_weights(data, "f_score", "b").notes
    assert any("lower-is-better" in note for note in notes)


def test_real_export_supports_every_method(export: ScoredFrame) -> None:
    for method in WEIGHT_METHODS:
        custom = export.weights if method == "custom" else None
        target = "conversions" if method in {"correlation", "mutual_info", "f_score"} else None
        _assert_simplex(calculate_weights(export, method, target, custom).weights, export.metrics)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    k=st.integers(1, 5),
    n=st.integers(10, 40),
    seed=st.integers(0, 2**16),
    constant=st.booleans(),
    custom=st.lists(st.floats(0, 1e6, allow_nan=False), min_size=5, max_size=5),
)
def test_weights_are_on_the_simplex_for_random_frames(
    k: int, n: int, seed: int, constant: bool, custom: list[float]
) -> None:
    rng = np.random.default_rng(seed)
    names = [f"m{i}" for i in range(k)]
    normalized = {m: rng.choice([0.0, 50.0, 100.0, 12.5], n) for m in names}
    if constant:
        normalized[names[0]] = np.full(n, 50.0)
    target = rng.integers(0, 3, n).astype(float) if seed % 2 else rng.normal(size=n)
    data = _frame(normalized, dict.fromkeys(names, 1 / k), {"t": target})
    user = dict(zip(names, custom, strict=False))
    if not any(user.values()):
        user[names[-1]] = 1.0
    for method in WEIGHT_METHODS:
        column = None if method in {"equal", "variance", "custom"} else "t"
        given = user if method == "custom" else None
        _assert_simplex(calculate_weights(data, method, column, given, seed=seed).weights, names)


# -- validation ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("custom", "names"),
    [
        ({"a": 1, "b": 1, "c": 1, "d": 1, "zz": 1}, ["zz"]),
        ({"a": 1, "b": 1, "c": 1}, ["d"]),
        ({"a": 1, "b": -0.5, "c": 1, "d": 1}, ["b"]),
        ({"a": 1, "b": 1, "c": math.nan, "d": math.inf}, ["c", "d"]),
        ({"a": True, "b": 1, "c": 1, "d": 1}, ["a"]),
        ({"a": 0, "b": 0, "c": 0, "d": 0}, ["all zero"]),
    ],
)
def test_bad_custom_weights_are_rejected_with_their_names(
    known: ScoredFrame, custom: dict[str, float], names: list[str]
) -> None:
    with pytest.raises(InvalidParameterError) as caught:
        calculate_weights(known, "custom", custom=custom)
    assert all(name in caught.value.message for name in names)
    assert caught.value.details["field"] == "custom"


def test_unknown_method_optimizer_and_target_are_rejected(known: ScoredFrame) -> None:
    with pytest.raises(InvalidParameterError, match="unknown method 'magic'") as caught:
        calculate_weights(known, "magic")
    assert caught.value.details["accepted"] == list(WEIGHT_METHODS)
    with pytest.raises(InvalidParameterError, match="unknown optimizer 'annealing'"):
        optimize_weights(known, "target", "annealing")
    for bad in ("nope", "domain"):
        with pytest.raises(InvalidParameterError, match="numeric columns: a, b") as caught:
            calculate_weights(known, "correlation", bad)
        assert "conversions" in caught.value.details["accepted"]
        assert "domain" not in caught.value.details["accepted"]
    with pytest.raises(InvalidParameterError, match="target column is required"):
        calculate_weights(known, "f_score")
    with pytest.raises(InvalidParameterError, match="custom"):
        calculate_weights(known, "custom")
    with pytest.raises(InvalidParameterError, match="only used with method 'custom'"):
        calculate_weights(known, "equal", custom=EQUAL)
    for budget in (0, 9, 10**6):
        with pytest.raises(InvalidParameterError, match="budget"):
            optimize_weights(known, "target", "grid", budget=budget)
    with pytest.raises(InvalidParameterError, match="missing metric"):
        optimize_weights(known, "target", "grid", start={"a": 1.0})
    with pytest.raises(InvalidParameterError, match="delta"):
        sensitivity(known, delta=1.5)
    with pytest.raises(InvalidParameterError, match="unknown metric"):
        weighted_score(known, {**EQUAL, "zz": 1.0})


def test_too_few_rows_are_rejected() -> None:
    rng = np.random.default_rng(5)
    data = _frame({m: rng.uniform(0, 100, 9) for m in METRICS}, CURRENT, {"t": np.arange(9.0)})
    for call in (
        lambda: calculate_weights(data, "variance"),
        lambda: calculate_weights(data, "correlation", "t"),
        lambda: optimize_weights(data, "t", "grid"),
        lambda: sensitivity(data),
    ):
        with pytest.raises(InvalidParameterError, match="at least 10"):
            call()


# -- optimize_weights ----------------------------------------------------------------------


def test_baseline_is_equal_weights(optimized: dict[str, OptimizationResult]) -> None:
    baselines = {result.baseline_agreement for result in optimized.values()}
    assert len(baselines) == 1
    for result in optimized.values():
        assert result.baseline_weights == EQUAL


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_optimizers_recover_the_known_weights(
    known: ScoredFrame, optimized: dict[str, OptimizationResult], name: str
) -> None:
    result = optimized[name]
    _assert_simplex(result.weights, known.metrics)
    assert result.optimizer == name
    assert result.target == "target"
    assert 1 < result.evaluations <= 200
    assert result.agreement >= result.baseline_agreement + 0.15
    assert result.agreement > 0.93
    w = result.weights
    assert w["a"] == max(w.values())
    assert w["a"] > w["b"] > w["c"] - 0.05
    assert w["d"] <= 0.1
    recomputed = weighted_score(known, w).to_numpy()
    agreement = np.corrcoef(_ranks(recomputed), _ranks(known.frame["target"].to_numpy()))[0, 1]
    assert agreement == pytest.approx(result.agreement, abs=1e-9)
    json.dumps(result.to_dict())


def _ranks(values: np.ndarray) -> np.ndarray:
    return pl.Series(values).rank(method="average").to_numpy()


@pytest.mark.parametrize("name", ["genetic", "bayesian"])
def test_stochastic_optimizers_are_reproducible(known: ScoredFrame, name: str) -> None:
    first = optimize_weights(known, "target", name, seed=11, budget=40)
    assert optimize_weights(known, "target", name, seed=11, budget=40) == first
    assert first.evaluations == 40
    assert first.seed == 11


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_never_worse_than_the_start(known: ScoredFrame, name: str) -> None:
    start = {"a": 0.6, "b": 0.3, "c": 0.1, "d": 0.0}
    result = optimize_weights(known, "target", name, budget=10, start=start)
    assert result.baseline_weights == start
    assert result.agreement >= result.baseline_agreement
    assert result.evaluations <= 10


def test_grid_covers_a_small_lattice_entirely() -> None:
    rng = np.random.default_rng(6)
    normalized = {m: rng.uniform(0, 100, 60) for m in ("x", "y", "z")}
    target = normalized["z"] + rng.normal(0, 1, 60)
    data = _frame(normalized, dict.fromkeys(normalized, 1 / 3), {"t": target})
    result = optimize_weights(data, "t", "grid", budget=500)
    assert result.evaluations == 1 + 66  # the start, then every step-0.1 point of the simplex
    assert result.weights == {"x": 0.0, "y": 0.0, "z": 1.0}


# -- weighted_score, relabel and sensitivity -----------------------------------------------


@pytest.mark.parametrize(("platform", "goal", "channel", "sensitive"), SETUPS)
def test_relabel_and_weighted_score_match_the_engine(
    platform: str, goal: str, channel: str, sensitive: bool
) -> None:
    text = make_export(platform, channel, seed=5, names=60)
    setup = Setup.create(platform, goal, channel, ctr_sensitivity=sensitive)
    data = ScoredFrame.from_result(pipeline.score(text.encode(), setup))
    frame = data.frame
    assert relabel(frame["score"]).to_list() == frame["quality_status"].to_list()
    again = weighted_score(data, data.weights)
    assert again.to_list() == frame["score"].to_list()
    assert relabel(again).to_list() == frame["quality_status"].to_list()


def test_relabel_follows_the_percentile_rule() -> None:
    labels = relabel(pl.Series([float(i) for i in range(1, 9)])).to_list()
    # percentile = round_half_even(100 r / 8): 12, 25, 38, 50, 62, 75, 88, 100
    assert labels == ["poor"] + ["moderate"] * 4 + ["good"] * 3
    assert set(relabel(pl.Series([3.0] * 5)).to_list()) == {"moderate"}


def test_sensitivity_with_zero_delta_changes_nothing(known: ScoredFrame) -> None:
    rows = sensitivity(known, delta=0.0)
    assert [row.metric for row in rows] == known.metrics
    for row in rows:
        assert row.labels_changed_up == row.labels_changed_down == 0
        assert row.score_shift_mean_abs_up == row.score_shift_mean_abs_down == 0.0


def test_sensitivity_counts_label_changes(known: ScoredFrame) -> None:
    weights = {"a": 0.5, "b": 0.3, "c": 0.2, "d": 0.0}
    rows = {row.metric: row for row in sensitivity(known, weights, delta=0.1)}
    assert rows["d"].weight == 0.0
    assert rows["d"].labels_changed_up > 0
    assert rows["d"].labels_changed_down == 0  # clipped at 0: nothing moves
    assert rows["d"].score_shift_mean_abs_down == 0.0
    for row in rows.values():
        assert 0 <= row.labels_changed_up <= known.frame.height
        assert 0 <= row.labels_changed_down <= known.frame.height
        json.dumps(row.to_dict())
    default = sensitivity(known)
    assert [row.weight for row in default] == list(CURRENT.values())


def test_sensitivity_spreads_equally_when_the_others_are_zero(known: ScoredFrame) -> None:
    rows = {row.metric: row for row in sensitivity(known, {"a": 1, "b": 0, "c": 0, "d": 0})}
    assert rows["a"].labels_changed_up == 0  # already at 1
    assert rows["a"].labels_changed_down > 0  # 0.1 spread over b, c and d
    assert rows["b"].labels_changed_up > 0


# -- packaging -----------------------------------------------------------------------------


def test_import_does_not_load_heavy_libraries() -> None:
    code = (
        "import sys, caliber.engine.analytics.weights; "
        "print(sorted(m for m in ('sklearn', 'scipy', 'bayes_opt') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "[]"
