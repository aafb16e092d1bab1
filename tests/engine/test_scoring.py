"""Normalize, score, rank, label, lists, campaign figures and outliers (scoring.md §4-5)."""

from __future__ import annotations

import polars as pl
import pytest

from caliber.engine import normalize
from caliber.engine.config import MetricSpec
from caliber.engine.errors import InvalidParameterError
from caliber.engine.lists import build_lists, campaign_summary
from caliber.engine.outliers import add_outlier_flags
from caliber.engine.score import add_scores

CTR_UP = MetricSpec("ctr", 0.6, higher_is_better=True)
CPM_DOWN = MetricSpec("cpm", 0.4, higher_is_better=False)


def _normalized(values: list[float | None], metric: MetricSpec) -> list[float]:
    frame = pl.DataFrame({metric.name: values}, schema={metric.name: pl.Float64})
    stats = normalize.fit(frame, [metric])
    return normalize.transform(frame, stats)[f"{metric.name}_normalized"].to_list()


def test_min_max_normalization_respects_direction() -> None:
    assert _normalized([1.0, 2.0, 3.0], CTR_UP) == [0.0, 50.0, 100.0]
    assert _normalized([1.0, 2.0, 3.0], CPM_DOWN) == [100.0, 50.0, 0.0]


def test_constant_metric_is_neutral_and_missing_is_zero() -> None:
    assert _normalized([2.0, 2.0, None], CTR_UP) == [50.0, 50.0, 0.0]
    assert _normalized([None, 4.0, 8.0], CPM_DOWN) == [0.0, 100.0, 0.0]


def test_fitted_stats_apply_to_new_data_with_clipping() -> None:
    train = pl.DataFrame({"ctr": [0.0, 1.0]})
    stats = normalize.fit(train, [CTR_UP])
    assert stats["ctr"].lo == 0.0
    assert stats["ctr"].hi == 1.0
    assert stats["ctr"].count == 2
    fresh = normalize.transform(pl.DataFrame({"ctr": [-1.0, 0.25, 2.0]}), stats)
    assert fresh["ctr_normalized"].to_list() == [0.0, 25.0, 100.0]


def _scored(ctr: list[float], cpm: list[float]) -> pl.DataFrame:
    frame = pl.DataFrame({"ctr": ctr, "cpm": cpm})
    metrics = [CTR_UP, CPM_DOWN]
    return add_scores(normalize.transform(frame, normalize.fit(frame, metrics)), metrics)


def test_score_is_the_weighted_mean_rounded_to_two_decimals() -> None:
    scored = _scored([0.0, 1.0, 2.0 / 3.0], [1.0, 3.0, 1.0])
    # row 3: ctr_n = 66.666..., cpm_n = 100 -> 0.6 × 66.67 + 0.4 × 100 = 80.0
    assert scored["score"].to_list() == [40.0, 60.0, 80.0]
    total = scored.select(pl.col("ctr_contribution") + pl.col("cpm_contribution")).to_series()
    assert total.to_list() == pytest.approx([40.0, 60.0, 80.0])


def test_scores_do_not_saturate_at_100() -> None:
    scored = _scored([0.1, 0.2, 0.3, 0.4], [4.0, 3.0, 2.0, 1.0])
    assert scored["score"].to_list() == [0.0, 33.33, 66.67, 100.0]


def test_weights_that_do_not_sum_to_one_are_divided_by_their_sum() -> None:
    frame = pl.DataFrame({"ctr": [0.0, 1.0], "cpm": [1.0, 1.0]})
    metrics = [MetricSpec("ctr", 3.0), MetricSpec("cpm", 1.0, higher_is_better=False)]
    scored = add_scores(normalize.transform(frame, normalize.fit(frame, metrics)), metrics)
    assert scored["score"].to_list() == [12.5, 87.5]  # (3·n + 1·50) / 4


def _ranked(scores: list[float]) -> pl.DataFrame:
    frame = pl.DataFrame({"x_normalized": scores})
    return add_scores(frame, [MetricSpec("x", 1.0)])


def test_percentile_rank_uses_average_ranks_and_rounds_half_to_even() -> None:
    ranked = _ranked([10.0, 20.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0])
    # ranks 1, 2.5, 2.5, 4..8 over N = 8: 12.5 -> 12, 31.25 -> 31, 50, 62.5 -> 62, 75, 87.5 -> 88
    assert ranked["percentile_rank"].to_list() == [12, 31, 31, 50, 62, 75, 88, 100]
    assert ranked["quality_status"].to_list() == [
        "poor",
        "moderate",
        "moderate",
        "moderate",
        "moderate",
        "good",
        "good",
        "good",
    ]


def test_single_row_is_at_the_top() -> None:
    ranked = _ranked([42.0])
    assert ranked["percentile_rank"].to_list() == [100]
    assert ranked["quality_status"].to_list() == ["good"]


def _results(names: list[str], scores: list[float], imps: list[int]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "domain": names,
            "score": scores,
            "impressions": imps,
            "spend": [i / 1000 for i in imps],
            "percentile_rank": list(range(len(names))),
            "quality_status": ["moderate"] * len(names),
        },
        schema_overrides={"impressions": pl.Float64},
    )


def test_lists_use_linear_quantiles_and_tie_breaks() -> None:
    results = _results(
        ["e.com", "d.com", "c.com", "b.com", "a.com", "f.com", "g.com"],
        [90.0, 90.0, 90.0, 50.0, 10.0, 10.0, 5.0],
        [500, 900, 900, 400, 300, 300, 100],
    )
    lists = build_lists(results, "domain", min_impressions=250)
    # eligible scores [90, 90, 90, 50, 10, 10]: q75 = 90, q25 = 10 + 0.25·40 = 20
    assert lists.whitelist_threshold == 90.0
    assert lists.blacklist_threshold == 20.0
    assert lists.whitelist["domain"].to_list() == ["c.com", "d.com", "e.com"]
    assert lists.blacklist["domain"].to_list() == ["a.com", "f.com"]
    assert lists.eligible == 6  # g.com has 100 impressions


def test_lists_are_empty_when_nothing_is_eligible() -> None:
    results = _results(["a.com"], [50.0], [10])
    lists = build_lists(results, "domain", min_impressions=250)
    assert lists.whitelist.height == 0
    assert lists.blacklist.height == 0
    assert lists.criteria()["eligible_rows"] == 0


def test_lists_refuse_negative_min_impressions() -> None:
    with pytest.raises(InvalidParameterError):
        build_lists(_results(["a.com"], [50.0], [10]), "domain", min_impressions=-5)


def test_campaign_summary_weights_scores_by_impressions() -> None:
    results = _results(
        ["a.com", "b.com", "c.com", "d.com", "e.com", "f.com"],
        [80.0, 40.0, 60.0, 20.0, 100.0, 0.0],
        [3000, 1000, 1000, 1000, 2000, 2000],
    ).with_columns(
        pl.Series("quality_status", ["good", "moderate", "moderate", "poor", "good", "poor"])
    )
    summary = campaign_summary(results, "domain")
    expected = (80 * 3000 + 40 * 1000 + 60 * 1000 + 20 * 1000 + 100 * 2000) / 10000
    assert summary["campaign_level_score"] == round(expected, 2)
    assert summary["total_impressions"] == 10000
    assert summary["total_spend"] == pytest.approx(10.0)
    assert summary["average_cpm"] == pytest.approx(1.0)
    assert summary["row_count"] == 6
    assert summary["status_counts"] == {"good": 2, "moderate": 2, "poor": 2}
    dist = summary["score_distribution"]
    assert (dist["min"], dist["max"], dist["median"], dist["mean"]) == (0.0, 100.0, 50.0, 50.0)
    assert dist["q25"] == 25.0
    assert dist["q75"] == 75.0
    assert [r["domain"] for r in summary["top_performers"]] == [
        "e.com",
        "a.com",
        "c.com",
        "b.com",
        "d.com",
    ]
    assert [r["domain"] for r in summary["bottom_performers"]][:2] == ["f.com", "d.com"]


def test_iqr_outlier_flags_per_metric() -> None:
    frame = pl.DataFrame(
        {
            "ctr": [0.01, 0.011, 0.012, 0.013, 0.5, None],
            "cpm": [2.0, 2.1, 2.2, 2.3, 2.4, 40.0],
        }
    )
    flagged = add_outlier_flags(frame, ["ctr", "cpm"])
    assert flagged["outlier_flags"].to_list() == [[], [], [], [], ["ctr"], ["cpm"]]
    assert flagged["is_outlier"].to_list() == [False, False, False, False, True, True]


def test_constant_metric_has_no_outliers() -> None:
    flagged = add_outlier_flags(pl.DataFrame({"ctr": [0.1, 0.1, 0.1]}), ["ctr"])
    assert flagged["is_outlier"].to_list() == [False, False, False]
