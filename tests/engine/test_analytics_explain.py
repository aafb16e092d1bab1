"""Score explanations: campaign importances, row attributions and export comparisons."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from typing import Any

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from caliber.engine.analytics.base import ScoredFrame
from caliber.engine.analytics.compare import compare
from caliber.engine.analytics.explain import (
    EXPLAIN_METHODS,
    CampaignExplanation,
    RowExplanation,
    explain_campaign,
    explain_row,
    metric_label,
)
from caliber.engine.config import MetricSpec, Setup
from caliber.engine.errors import InvalidParameterError
from caliber.engine.pipeline import score
from caliber.engine.score import add_scores
from tests.engine.exports import make_export

WEIGHTS = {"a": 0.6, "b": 0.3, "c": 0.1}
PLANTED = "planted.example"


def _scored(
    normalized: dict[str, Any],
    weights: dict[str, float] = WEIGHTS,
    *,
    names: list[str] | None = None,
    missing: dict[str, list[int]] | None = None,
    impressions: Any = None,
) -> ScoredFrame:
    """A results frame built like the engine's: raw, normalized, contributions, score."""
    columns = {m: np.asarray(v, dtype=float) for m, v in normalized.items()}
    n = len(next(iter(columns.values())))
    raw: dict[str, list[float | None]] = {m: list(v / 1000) for m, v in columns.items()}
    for metric, rows in (missing or {}).items():
        for row in rows:
            raw[metric][row] = None
            columns[metric][row] = 0.0  # the engine scores a missing value 0
    frame = pl.DataFrame(
        {
            "domain": names or [f"site{i:03d}.com" for i in range(n)],
            "impressions": np.ones(n) * 1000 if impressions is None else impressions,
            **{m: pl.Series(m, raw[m], dtype=pl.Float64) for m in columns},
            **{f"{m}_normalized": columns[m] for m in columns},
        }
    )
    specs = [MetricSpec(m, w) for m, w in weights.items()]
    frame = add_scores(frame, specs)
    return ScoredFrame(frame, "domain", dict(weights), dict.fromkeys(weights, True))


def _similar(n: int = 200, seed: int = 1) -> ScoredFrame:
    """Three independent metrics with the same spread; row 0 is planted on ``a``."""
    rng = np.random.default_rng(seed)
    values = {m: rng.uniform(0, 100, n) for m in WEIGHTS}
    for m in WEIGHTS:
        values[m][0] = 50.0
    values["a"][0] = 100.0
    names = [PLANTED] + [f"site{i:03d}.com" for i in range(1, n)]
    return _scored(values, names=names)


def _spread(n: int = 200) -> ScoredFrame:
    """``c`` varies a lot, ``a`` (the heaviest) hardly at all."""
    rng = np.random.default_rng(2)
    return _scored(
        {
            "a": 50 + rng.normal(0, 0.3, n),
            "b": rng.uniform(45, 55, n),
            "c": rng.uniform(0, 100, n),
        }
    )


SIMILAR = _similar()
SPREAD = _spread()


@pytest.fixture(scope="module")
def exported() -> ScoredFrame:
    text = make_export("trade_desk", "display", seed=11, names=60)
    result = score(text.encode(), Setup.create("trade_desk", "awareness", "display"))
    return ScoredFrame.from_result(result)


def _unrounded(data: ScoredFrame) -> np.ndarray:
    columns = [data.contribution(m) for m in data.metrics]
    return data.frame.select(pl.sum_horizontal(columns)).to_series().to_numpy()


def _assert_clean(explanation: CampaignExplanation) -> None:
    values = [i.importance for i in explanation.importances]
    shares = [i.share for i in explanation.importances]
    assert all(np.isfinite(values + shares))
    assert values == sorted(values, reverse=True)
    assert sum(shares) == pytest.approx(1.0) or sum(shares) == 0.0
    json.dumps(explanation.to_dict())


def test_metric_labels() -> None:
    assert metric_label("ctr") == "CTR"
    assert metric_label("ecpm") == "eCPM"
    assert metric_label("ias_display_fully_in_view_1s_rate") == "viewability (fully in view 1 s)"
    assert metric_label("ad_refresh_below_15s_rate") == "fast ad refresh rate"
    assert metric_label("video_completion_rate") == "video completion rate"


@pytest.mark.parametrize("method", EXPLAIN_METHODS)
def test_every_method_ranks_the_heaviest_varying_metric_first(method: str) -> None:
    explanation = explain_campaign(SIMILAR, method)
    _assert_clean(explanation)
    assert explanation.method == method
    assert explanation.importances[0].metric == "a"
    assert explanation.importances[0].weight == pytest.approx(0.6)
    assert explanation.importances[0].direction == "higher_is_better"
    assert "a (" in explanation.summary
    assert explanation.rows_used == 200
    assert not explanation.sampled
    if method in {"shap", "feature_importance"}:
        assert explanation.model_fit is not None
        assert explanation.model_fit > 0.8
    else:
        assert explanation.model_fit is None


@pytest.mark.parametrize("method", ["exact", "shap", "correlation"])
def test_importance_reflects_variation_not_weight_alone(method: str) -> None:
    ranked = [i.metric for i in explain_campaign(SPREAD, method).importances]
    assert ranked.index("c") < ranked.index("a")


def test_exact_importance_is_weight_times_spread() -> None:
    explanation = explain_campaign(SIMILAR)
    for item in explanation.importances:
        spread = SIMILAR.frame[f"{item.metric}_normalized"].to_numpy().std()
        assert item.importance == pytest.approx(WEIGHTS[item.metric] * spread)


def test_exact_row_attributions_sum_to_the_gap_to_the_average() -> None:
    unrounded = _unrounded(SIMILAR)
    for name in [PLANTED, "site007.com", "site150.com"]:
        row = explain_row(SIMILAR, name)
        i = SIMILAR.frame["domain"].to_list().index(name)
        total = sum(a.attribution for a in row.attributions)
        assert total == pytest.approx(unrounded[i] - unrounded.mean(), abs=1e-9)
        assert row.campaign_average_score == pytest.approx(unrounded.mean(), abs=1e-9)
        assert row.confidence == "high"
        largest = row.attributions[0]
        assert f"{metric_label(largest.metric)} ({largest.attribution:+.1f})" in row.sentence
        assert row.sentence.startswith(f"{name} scored {row.score:.1f}")
        for item in row.attributions:
            assert item.contribution == pytest.approx(item.weight * (item.normalized or 0.0))
    planted = explain_row(SIMILAR, PLANTED)
    assert planted.drivers_up[0] == "a"
    assert "above the campaign average, mostly thanks to a (" in planted.sentence


def test_row_sentence_for_a_below_average_row() -> None:
    worst = SIMILAR.frame.sort("score")["domain"][0]
    row = explain_row(SIMILAR, worst)
    assert "below the campaign average, mostly because of" in row.sentence
    assert row.drivers_down
    assert row.quality_status == "poor"


def test_shap_row_attributions_add_up_to_the_surrogate() -> None:
    from sklearn.ensemble import RandomForestRegressor

    row = explain_row(SIMILAR, PLANTED, "shap")
    assert row.method == "shap"
    assert max(row.attributions, key=lambda a: abs(a.attribution)).metric == "a"
    assert row.drivers_up[0] == "a"
    x = SIMILAR.frame.select(f"{m}_normalized" for m in WEIGHTS).to_numpy()
    model = RandomForestRegressor(n_estimators=100, max_depth=8, random_state=0, n_jobs=1)
    model.fit(x, SIMILAR.frame["score"].to_numpy())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        import shap
    expected = float(np.ravel(shap.TreeExplainer(model).expected_value)[0])
    prediction = float(model.predict(x[:1])[0])
    total = sum(a.attribution for a in row.attributions)
    assert total == pytest.approx(prediction - expected, abs=1e-4)
    # and the surrogate is close to the real gap to the average
    assert total == pytest.approx(row.score - row.campaign_average_score, abs=8.0)
    fit = explain_campaign(SIMILAR, "shap").model_fit
    assert fit is not None
    level = "high" if fit >= 0.9 else "medium" if fit >= 0.7 else "low"
    assert row.confidence == level


def test_missing_metrics_lower_confidence() -> None:
    rng = np.random.default_rng(5)
    values = {m: rng.uniform(0, 100, 30) for m in WEIGHTS}
    data = _scored(values, missing={"a": [3], "b": [3], "c": [4]})
    row = explain_row(data, "site003.com")
    assert row.confidence == "low"
    gaps = {a.metric: a for a in row.attributions}
    assert gaps["a"].value is None
    assert gaps["a"].normalized is None
    assert gaps["a"].contribution == 0.0
    assert gaps["c"].value is not None
    assert explain_row(data, "site004.com").confidence == "medium"
    unrounded = _unrounded(data)
    total = sum(a.attribution for a in row.attributions)
    assert total == pytest.approx(unrounded[3] - unrounded.mean(), abs=1e-9)


def test_constant_metrics_have_zero_importance_and_a_note() -> None:
    rng = np.random.default_rng(3)
    data = _scored({"a": rng.uniform(0, 100, 40), "b": np.full(40, 50.0), "c": np.zeros(40)})
    for method in EXPLAIN_METHODS:
        explanation = explain_campaign(data, method)
        _assert_clean(explanation)
        importance = {i.metric: i.importance for i in explanation.importances}
        assert importance["b"] == pytest.approx(0.0)
        assert importance["c"] == pytest.approx(0.0)
        assert any("b does not vary" in note for note in explanation.notes)


def test_a_campaign_with_one_score_explains_nothing() -> None:
    data = _scored({m: np.full(20, 40.0) for m in WEIGHTS})
    for method in EXPLAIN_METHODS:
        explanation = explain_campaign(data, method)
        _assert_clean(explanation)
        assert all(i.share == 0.0 for i in explanation.importances)
        assert explanation.summary.startswith("No metric varies")
    row = explain_row(data, "site000.com")
    assert row.drivers_up == row.drivers_down == ()
    assert "in line with the campaign average" in row.sentence


def test_names_match_loosely_and_unknown_names_raise() -> None:
    assert explain_row(SIMILAR, "  WWW.Planted.Example ").name == PLANTED
    with pytest.raises(InvalidParameterError, match=r"nowhere\.example is not among"):
        explain_row(SIMILAR, "nowhere.example")


def test_bad_parameters_raise() -> None:
    with pytest.raises(InvalidParameterError, match="exact, shap, feature_importance"):
        explain_campaign(SIMILAR, "lime")
    with pytest.raises(InvalidParameterError, match="rows support exact and shap"):
        explain_row(SIMILAR, PLANTED, "feature_importance")
    with pytest.raises(InvalidParameterError, match="rows support exact and shap"):
        explain_row(SIMILAR, PLANTED, "correlation")
    with pytest.raises(InvalidParameterError, match="max_rows"):
        explain_campaign(SIMILAR, "shap", max_rows=5)
    with pytest.raises(InvalidParameterError, match="seed"):
        explain_campaign(SIMILAR, "shap", seed=-1)


def test_tiny_campaigns_raise() -> None:
    tiny = _scored({m: [10.0, 20.0, 30.0, 40.0, 50.0] for m in WEIGHTS})
    with pytest.raises(InvalidParameterError, match="at least 10"):
        explain_campaign(tiny)
    with pytest.raises(InvalidParameterError, match="at least 10"):
        explain_row(tiny, "site000.com")
    with pytest.raises(InvalidParameterError, match="at least 10"):
        compare(tiny, SIMILAR)


def test_sampling_is_noted_and_seeded() -> None:
    first = explain_campaign(SIMILAR, "shap", seed=4, max_rows=50)
    assert first.sampled
    assert first.rows_used == 50
    assert first.seed == 4
    assert any("sample of 50 of 200 rows" in note for note in first.notes)
    assert first == explain_campaign(SIMILAR, "shap", seed=4, max_rows=50)
    row = explain_row(SIMILAR, PLANTED, "shap", seed=4, max_rows=50)
    assert row == explain_row(SIMILAR, PLANTED, "shap", seed=4, max_rows=50)
    forest = explain_campaign(SIMILAR, "feature_importance", seed=4, max_rows=50)
    assert forest == explain_campaign(SIMILAR, "feature_importance", seed=4, max_rows=50)
    assert forest.model_fit == first.model_fit


def _shift(data: ScoredFrame, metric: str, by: float, weights: dict[str, float]) -> ScoredFrame:
    values = {
        m: np.clip(data.frame[f"{m}_normalized"].to_numpy() + (by if m == metric else 0), 0, 100)
        for m in weights
    }
    return _scored(values, weights, names=data.frame["domain"].to_list())


def test_compare_finds_the_one_metric_that_moved() -> None:
    after = _shift(SIMILAR, "b", 20.0, WEIGHTS)
    result = compare(SIMILAR, after)
    assert result.drivers == ("b",)
    assert result.change > 0
    assert result.changes[0].metric == "b"
    assert result.changes[0].effect_on_score is not None
    assert result.changes[0].effect_on_score > 0
    assert result.changes[0].change is not None
    assert result.changes[0].change > 0
    effects = sum(c.effect_on_score or 0.0 for c in result.changes)
    assert effects == pytest.approx(result.change, abs=0.01)
    assert result.summary.startswith("The campaign score rose from")
    assert "driven by b (+" in result.summary
    assert result.common_rows == 200
    assert result.only_before == result.only_after == 0
    assert sum(result.status_counts_before.values()) == 200
    json.dumps(result.to_dict())
    reverse = compare(after, SIMILAR)
    assert reverse.change < 0
    assert reverse.drivers == ("b",)
    assert reverse.summary.startswith("The campaign score fell from")


def test_compare_names_offsetting_drivers() -> None:
    up = _shift(SIMILAR, "a", 20.0, WEIGHTS)
    both = _shift(up, "b", -20.0, WEIGHTS)
    result = compare(SIMILAR, both)
    effects = {c.metric: c.effect_on_score or 0.0 for c in result.changes}
    assert effects["a"] > 0 > effects["b"]
    assert effects["c"] == pytest.approx(0.0)
    assert result.drivers == ("a", "b")
    assert result.change > 0
    assert ", driven by a (+" in result.summary
    assert "partly offset by b (-" in result.summary
    unchanged = compare(SIMILAR, SIMILAR)
    assert unchanged.drivers == ()
    assert unchanged.summary.startswith("The campaign score held steady at")


def test_compare_weighs_by_impressions_and_counts_rows() -> None:
    rng = np.random.default_rng(9)
    values = {m: rng.uniform(0, 100, 20) for m in WEIGHTS}
    imps = np.arange(1, 21) * 100.0
    before = _scored(values, impressions=imps)
    names = [f"site{i:03d}.com" for i in range(15)] + [f"new{i}.com" for i in range(5)]
    after = _scored(values, names=names, impressions=imps[::-1].copy())
    result = compare(before, after)
    expected = float(np.average(before.frame["score"].to_numpy(), weights=imps))
    assert result.score_before == pytest.approx(expected)
    assert result.mean_score_before == pytest.approx(result.mean_score_after)
    assert (result.common_rows, result.only_before, result.only_after) == (15, 5, 5)
    assert "15 rows appear in both exports" in result.summary


def test_compare_refuses_different_metrics() -> None:
    rng = np.random.default_rng(0)
    weights = {"a": 0.5, "b": 0.3, "d": 0.2}
    other = _scored({m: rng.uniform(0, 100, 20) for m in weights}, weights)
    with pytest.raises(InvalidParameterError, match=r"only before: c; only after: d"):
        compare(SIMILAR, other)


def test_real_export_end_to_end(exported: ScoredFrame) -> None:
    for method in EXPLAIN_METHODS:
        explanation = explain_campaign(exported, method)
        _assert_clean(explanation)
        assert {i.metric for i in explanation.importances} == set(exported.metrics)
    ordered = exported.frame.sort("score", descending=True)["domain"].to_list()
    unrounded = _unrounded(exported)
    for name in (ordered[0], ordered[-1]):
        for method in ("exact", "shap"):
            row = explain_row(exported, "www." + name.upper(), method)
            assert isinstance(row, RowExplanation)
            assert row.name == name
            assert row.confidence in {"high", "medium", "low"}
            json.dumps(row.to_dict())
        exact = explain_row(exported, name)
        i = exported.frame["domain"].to_list().index(name)
        total = sum(a.attribution for a in exact.attributions)
        assert total == pytest.approx(unrounded[i] - unrounded.mean(), abs=1e-9)
    top = explain_row(exported, ordered[0])
    assert "above the campaign average" in top.sentence
    assert top.percentile_rank == 100


def test_import_does_not_load_the_model_libraries() -> None:
    code = (
        "import sys, caliber.engine.analytics.explain\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'sklearn', 'shap'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(*(st.floats(0, 100, allow_nan=False) for _ in WEIGHTS)), min_size=10, max_size=30
    ),
    st.data(),
)
def test_exact_attributions_always_add_up(
    rows: list[tuple[float, float, float]], data: st.DataObject
) -> None:
    scored = _scored({m: [r[j] for r in rows] for j, m in enumerate(WEIGHTS)})
    i = data.draw(st.integers(0, len(rows) - 1))
    row = explain_row(scored, f"site{i:03d}.com")
    unrounded = _unrounded(scored)
    total = sum(a.attribution for a in row.attributions)
    assert total == pytest.approx(unrounded[i] - unrounded.mean(), abs=1e-9)
    assert all(np.isfinite([a.attribution for a in row.attributions]))
