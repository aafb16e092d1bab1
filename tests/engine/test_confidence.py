"""Confidence (issue 17): the beta priors, the shrunk rates, each row's score interval,
the lists of what the data can decide, and the classic output left as it was."""

from __future__ import annotations

import itertools
import math

import numpy as np
import polars as pl
import pytest

from caliber.engine import confidence, decisions, normalize
from caliber.engine.config import MetricSpec, Setup
from caliber.engine.errors import InvalidParameterError
from caliber.engine.headers import MetricSource
from caliber.engine.pipeline import ScoringResult, score

SITE, IMPS, SPEND, CLICKS = "Site", "Impressions", "Advertiser Cost (Adv Currency)", "Clicks"
CONVERSIONS = "All Last Click + View Conversions"
VIEW = "IAS Display Fully In View 1 Second Rate"
XL, REFRESH = "Ad Load - XL (Excessive) - Impressions", "Ad Refresh - Below 15s - Impressions"
ACTION = ("trade_desk", "action", "display")
CLASSIC_COLUMNS = 28  # the classic results of the action / display setup


def _export(seed: int, sites: int = 1500, volume: float | None = None) -> pl.DataFrame:
    """One row per site of a Trade Desk display export, with true rates drawn from
    betas and binomial counts; ``volume``: every site's impressions."""
    return _export_and_truth(seed, sites, volume)[0]


def _export_and_truth(
    seed: int, sites: int = 1500, volume: float | None = None
) -> tuple[pl.DataFrame, dict[str, np.ndarray]]:
    """:func:`_export` and the true rates behind it, by engine metric."""
    rng = np.random.default_rng(seed)
    if volume is None:
        imps = np.rint(rng.lognormal(math.log(3000), 1.2, sites)).clip(300, None)
    else:
        imps = np.full(sites, volume)
    counts = imps.astype(np.int64)
    true = {"ias_display_fully_in_view_1s_rate": rng.beta(12.0, 8.0, sites)}
    view = rng.binomial(counts, true["ias_display_fully_in_view_1s_rate"]) / imps
    spend = np.round(imps * rng.lognormal(math.log(3.0), 0.3, sites) / 1000, 2)
    true["ctr"] = rng.beta(6.0, 2994.0, sites)
    clicks = rng.binomial(counts, true["ctr"])
    true["conversion_rate"] = rng.beta(3.0, 9997.0, sites)
    conversions = rng.binomial(counts, true["conversion_rate"])
    true["ad_load_xl_rate"] = rng.beta(1.0, 20.0, sites)
    xl = rng.binomial(counts, true["ad_load_xl_rate"])
    true["ad_refresh_below_15s_rate"] = rng.beta(1.0, 12.0, sites)
    refresh = rng.binomial(counts, true["ad_refresh_below_15s_rate"])
    frame = pl.DataFrame(
        {
            SITE: [f"site{i:05d}.com" for i in range(sites)],
            IMPS: imps,
            SPEND: spend,
            CLICKS: clicks,
            CONVERSIONS: conversions,
            VIEW: view,
            XL: xl,
            REFRESH: refresh,
        }
    )
    return frame, true


def _score(frame: pl.DataFrame, level: float | None = 0.8) -> ScoringResult:
    return score(frame, Setup.create(*ACTION, list_confidence=level))


# ---------------------------------------------------------------------------
# the model
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_prior_fits_known_beta_binomial_data(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = np.rint(rng.lognormal(math.log(2000), 1.0, 4000)).clip(50, None)
    p = rng.beta(4.0, 196.0, n.size)  # μ = 0.02, a + b = 200
    x = rng.binomial(n.astype(np.int64), p).astype(np.float64)
    prior = confidence.fit_prior("ctr", x, n, "impressions")
    assert prior is not None
    assert prior.mean == pytest.approx(0.02, rel=0.03)
    assert prior.strength == pytest.approx(200.0, rel=0.15)
    assert prior.rows == n.size


def test_no_spread_between_rows_gives_every_row_the_mean() -> None:
    n = np.array([1000.0, 2000.0, 4000.0, 8000.0])
    prior = confidence.fit_prior("ctr", n * 0.01, n, "impressions")
    assert prior is not None
    assert prior.mean == pytest.approx(0.01)
    assert prior.strength is None
    # rows without trials are left out of the fit
    assert confidence.fit_prior("ctr", np.zeros(2), np.zeros(2), "impressions") is None


def test_the_engine_fits_each_rate_on_the_eligible_rows() -> None:
    frame = _export(5)
    result = _score(frame)
    assert result.confidence is not None
    priors = result.confidence.priors
    # CPM is money: never shrunk
    assert set(priors) == {
        "ctr",
        "conversion_rate",
        "ias_display_fully_in_view_1s_rate",
        "ad_load_xl_rate",
        "ad_refresh_below_15s_rate",
    }
    clicks, impressions = frame[CLICKS].to_numpy(), frame[IMPS].to_numpy()
    assert priors["ctr"].mean == pytest.approx(clicks.sum() / impressions.sum())
    assert priors["ctr"].strength == pytest.approx(3000.0, rel=0.25)
    assert priors["conversion_rate"].strength == pytest.approx(10000.0, rel=0.35)
    assert priors["ctr"].trials == "impressions"
    rows = result.results
    shrunk = rows["shrunk_ctr"].to_numpy()
    raw = rows["ctr"].to_numpy()
    # each shrunk rate lies between the row's own rate and the campaign's
    assert np.all((shrunk - raw) * (priors["ctr"].mean - shrunk) >= -1e-15)


@pytest.mark.parametrize("sites", [400, 2000])
def test_shifted_gamma_bounds_match_sampling(sites: int) -> None:
    """The analytic bounds at level 0.8 against the 20% and 80% quantiles of 10,000
    posterior draws per row (one-sided bounds: score_low the 1 - L quantile, score_high
    the L one): about a tenth of a point off on average on the linear score (the draws'
    own error is about 0.05), even where one skewed rate (conversions) dominates; and
    the same decisions for all but a few rows once each metric is clipped to its bounds
    as the score is."""
    result = _score(_export(7, sites=sites))
    assert result.confidence is not None
    rows = result.results
    rng = np.random.default_rng(0)
    linear = np.zeros((rows.height, 10_000))
    clipped = np.zeros_like(linear)
    weight_sum = sum(m.weight for m in result.resolved.metrics)
    for metric in result.resolved.metrics:
        share = metric.weight / weight_sum
        stat = result.confidence.normalization[metric.name]
        prior = result.confidence.priors.get(metric.name)
        if prior is None:  # CPM: no uncertainty
            fixed = share * rows[f"{metric.name}_normalized"].to_numpy()[:, None]
            linear += fixed
            clipped += fixed
            continue
        assert prior.strength is not None
        assert stat.lo is not None
        assert stat.hi is not None
        mean = rows[f"shrunk_{metric.name}"].to_numpy()[:, None]
        s = prior.strength + rows["impressions"].cast(pl.Float64).to_numpy()[:, None]
        draws = rng.beta(mean * s, (1 - mean) * s, size=linear.shape)
        scaled = 100 * (draws - stat.lo) / (stat.hi - stat.lo)
        linear += share * (scaled if metric.higher_is_better else 100 - scaled)
        clipped += share * confidence.normalized(draws, stat)
    low, high = rows["score_low"].to_numpy(), rows["score_high"].to_numpy()
    inside = (low > 0) & (high < 100)
    want_low, want_high = np.quantile(linear, [0.2, 0.8], axis=1)
    assert np.abs(low - want_low)[inside].mean() < 0.1
    assert np.abs(high - want_high)[inside].mean() < 0.2
    assert np.abs(low - want_low)[inside].max() < 1.0
    assert np.abs(high - want_high)[inside].max() < 1.0
    # the same draws clipped as the score is: the lists hardly change (a row whose
    # posterior reaches far past a bound has a wide interval, undecided either way)
    exact_low, exact_high = np.quantile(clipped, [0.2, 0.8], axis=1)
    criteria = result.lists.criteria()
    top, bottom = criteria["whitelist_min_score"], criteria["blacklist_max_score"]
    exact = np.where(exact_low.round(2) >= top, 1, np.where(exact_high.round(2) <= bottom, -1, 0))
    ours = np.where(low >= top, 1, np.where(high <= bottom, -1, 0))
    assert (exact != ours).mean() <= 0.005


@pytest.mark.parametrize("level", [0.8, 0.9])
def test_each_bound_is_sure_at_the_level(level: float) -> None:
    """One-sided bounds, as the list rule reads them ("at least 80 % sure it belongs on
    the whitelist"): the true score (the contract's score of the true rates, on the
    shrunk score's bounds and weights) falls below score_low for about 1 - L of the
    rows, and above score_high for about 1 - L (a central interval would leave
    (1 - L)/2 on each side)."""
    below, above = [], []
    for seed in (43, 47, 53):
        frame, true = _export_and_truth(seed)
        result = _score(frame, level)
        assert result.confidence is not None
        rows = result.results
        site = np.array([int(name[4:9]) for name in rows["domain"].to_list()])
        weight_sum = sum(m.weight for m in result.resolved.metrics)
        score = np.zeros(rows.height)
        for metric in result.resolved.metrics:
            share = metric.weight / weight_sum
            if metric.name not in true:  # CPM: known exactly, no uncertainty
                score += share * rows[f"{metric.name}_normalized"].to_numpy()
                continue
            stat = result.confidence.normalization[metric.name]
            score += share * confidence.normalized(true[metric.name][site], stat)
        below.append(np.mean(score < rows["score_low"].to_numpy()))
        above.append(np.mean(score > rows["score_high"].to_numpy()))
    miss = 1.0 - level
    assert np.mean(below) == pytest.approx(miss, abs=0.35 * miss)
    assert np.mean(above) == pytest.approx(miss, abs=0.35 * miss)


def test_the_summary_says_which_quantiles_the_bounds_are() -> None:
    result = _score(_export(59, sites=400), 0.8)
    assert result.confidence is not None
    interval = result.summary()["confidence"]["interval"]
    assert interval == {"low_quantile": 0.2, "high_quantile": 0.8}
    assert result.confidence.to_dict()["interval"] == interval
    assert decisions.interval_quantiles(0.95) == {"low_quantile": 0.05, "high_quantile": 0.95}


def test_at_level_one_half_both_bounds_are_the_median() -> None:
    """0.5 sure on each side: both bounds are the posterior median, and the lists are the
    rows whose median clears the bar (a central reading would give a 50 % interval)."""
    rows = _score(_export(61, sites=600), 0.5).results
    assert (rows["score_low"] == rows["score_high"]).all()
    assert ((rows["score_low"] - rows["shrunk_score"]).abs() < 1.0).all()


def test_intervals_narrow_as_impressions_grow() -> None:
    frame = _export(11)
    # the same rates at 1, 10 and 100 times the volume
    base = frame.head(1).with_columns(pl.lit("a.com").alias(SITE))
    counts = [IMPS, SPEND, CLICKS, CONVERSIONS, XL, REFRESH]
    scaled = [
        base.with_columns(pl.lit(name).alias(SITE), *(pl.col(c) * k for c in counts))
        for name, k in (("b.com", 10), ("c.com", 100))
    ]
    result = _score(pl.concat([frame, base, *scaled], how="vertical_relaxed"))
    rows = {r["domain"]: r for r in result.results.to_dicts()}
    widths = [rows[d]["score_high"] - rows[d]["score_low"] for d in ("a.com", "b.com", "c.com")]
    assert widths[0] > widths[1] > widths[2] > 0


def _ctr_model(clicks: list[float], impressions: list[float]) -> confidence.Fit:
    """The model of a one-metric setup (CTR, weight 1) over these rows."""
    frame = pl.DataFrame(
        {"impressions": impressions, "clicks": clicks},
        schema={"impressions": pl.Float64, "clicks": pl.Float64},
    ).with_columns((pl.col("clicks") / pl.col("impressions")).alias("ctr"))
    metrics = [MetricSpec("ctr", 1.0)]
    stats = normalize.fit(frame, metrics)
    frame = normalize.transform(frame, stats)
    sources = {"ctr": MetricSource("ctr", "counts", ("clicks", "impressions"))}
    eligible = np.ones(frame.height, dtype=np.bool_)
    return confidence.fit_model(frame, metrics, stats, sources, eligible)


def test_the_model_narrows_about_as_one_over_the_square_root_of_volume() -> None:
    rng = np.random.default_rng(3)
    impressions = rng.integers(500, 20_000, 300).astype(np.float64)
    clicks = rng.binomial(impressions.astype(np.int64), rng.beta(4.0, 996.0, 300))
    fit = _ctr_model(clicks.astype(np.float64).tolist(), impressions.tolist())
    widths = []
    for growth in (1.0, 4.0, 16.0, 64.0, 1e6):
        low, high = fit.model.interval(0.8, growth)
        widths.append(high - low)
    for wider, narrower in itertools.pairwise(widths):
        assert np.all(narrower < wider)
    # a million times the trials: the interval is the shrunk score
    assert np.all(widths[-1] < 0.1)
    # four times the trials: about half the width (less where the prior weighs)
    ratio = widths[1] / widths[0]
    assert np.all((ratio > 0.45) & (ratio < 0.8))


# ---------------------------------------------------------------------------
# the lists
# ---------------------------------------------------------------------------


def test_decisions_follow_the_interval_rule() -> None:
    result = _score(_export(13))
    rows = result.results
    criteria = result.lists.criteria()
    top, bottom = criteria["whitelist_min_score"], criteria["blacklist_max_score"]
    # the thresholds are the list quantiles of the eligible rows' shrunk scores
    eligible = rows.filter(pl.col("impressions") >= 250)["shrunk_score"]
    assert top == pytest.approx(eligible.quantile(0.75, interpolation="linear"))
    assert bottom == pytest.approx(eligible.quantile(0.25, interpolation="linear"))
    white = rows.filter(pl.col("decision") == "whitelist")
    black = rows.filter(pl.col("decision") == "blacklist")
    rest = rows.filter(pl.col("decision") == "undecided")
    assert (white["score_low"] >= top).all()
    assert (black["score_high"] <= bottom).all()
    assert not ((rest["score_low"] >= top) | (rest["score_high"] <= bottom)).any()
    assert white.height + black.height + rest.height == rows.height
    assert (rows["score_low"] <= rows["shrunk_score"]).all()
    assert (rows["shrunk_score"] <= rows["score_high"]).all()
    # the lists in use are the confident ones, best surely first
    assert sorted(result.lists.whitelist["domain"]) == sorted(white["domain"])
    assert sorted(result.lists.blacklist["domain"]) == sorted(black["domain"])
    assert result.lists.whitelist["score_low"].is_sorted(descending=True)
    assert result.lists.blacklist["score_high"].is_sorted()
    # fewer, surer lists than the classic ones
    assert result.confidence is not None
    classic = result.confidence.classic_lists
    assert 0 < white.height < classic.whitelist.height
    assert 0 < black.height < classic.blacklist.height
    # rebuilt from the stored rows alone (what a service does), the same lists
    again = decisions.confident_lists(rows.drop("decision"), "domain", result.setup)
    columns = result.lists.whitelist.columns
    assert again.whitelist.select(columns).equals(result.lists.whitelist)
    assert again.blacklist.select(columns).equals(result.lists.blacklist)
    assert again.criteria() == criteria


def test_a_lucky_small_site_tops_the_classic_whitelist_but_is_undecided() -> None:
    frame = _export(17)
    lucky = pl.DataFrame(
        {
            SITE: ["lucky.com"],
            IMPS: [300.0],
            SPEND: [0.9],
            CLICKS: [1],
            CONVERSIONS: [2],
            VIEW: [0.6],
            XL: [15],
            REFRESH: [24],
        }
    )
    result = _score(pl.concat([frame, lucky], how="vertical_relaxed"))
    assert result.confidence is not None
    assert "lucky.com" in result.confidence.classic_lists.whitelist["domain"].to_list()
    row = result.results.filter(pl.col("domain") == "lucky.com").row(0, named=True)
    assert row["decision"] == "undecided"
    # its conversions are pulled most of the way back to the campaign's
    prior = result.confidence.priors["conversion_rate"]
    assert abs(row["shrunk_conversion_rate"] - prior.mean) < 0.2 * (2 / 300 - prior.mean)


def test_a_site_with_huge_volume_is_decided_by_the_classic_rule() -> None:
    frame = _export(19)
    huge = frame.head(3).with_columns(
        pl.format("huge{}.com", pl.int_range(3)).alias(SITE),
        *(pl.col(c) * 10**7 for c in (IMPS, SPEND, CLICKS, CONVERSIONS, XL, REFRESH)),
    )
    result = _score(pl.concat([frame, huge], how="vertical_relaxed"))
    criteria = result.lists.criteria()
    for row in result.results.filter(pl.col("domain").str.starts_with("huge")).to_dicts():
        # a point interval: in the list exactly when its score passes the threshold
        assert row["score_high"] - row["score_low"] <= 0.03
        expected = (
            "whitelist"
            if row["shrunk_score"] >= criteria["whitelist_min_score"]
            else "blacklist"
            if row["shrunk_score"] <= criteria["blacklist_max_score"]
            else "undecided"
        )
        assert row["decision"] == expected


def test_when_every_site_has_huge_volume_the_lists_are_the_classic_ones() -> None:
    result = _score(_export(23, sites=600, volume=1e11))
    assert result.confidence is not None
    rows = result.results
    assert ((rows["score_high"] - rows["score_low"]) <= 0.02).all()
    assert ((rows["shrunk_score"] - rows["score"]).abs() <= 0.02).all()
    classic = result.confidence.classic_lists
    assert result.lists.whitelist["domain"].sort().equals(classic.whitelist["domain"].sort())
    assert result.lists.blacklist["domain"].sort().equals(classic.blacklist["domain"].sort())
    assert rows["decision"].value_counts().height >= 2


def test_impressions_needed_is_what_decides_an_undecided_row() -> None:
    rng = np.random.default_rng(29)
    impressions = rng.integers(300, 30_000, 500).astype(np.float64)
    clicks = rng.binomial(impressions.astype(np.int64), rng.beta(4.0, 996.0, 500))
    fit = _ctr_model(clicks.astype(np.float64).tolist(), impressions.tolist())
    model = fit.model
    top, bottom = np.quantile(model.center, [0.75, 0.25])
    low, high = model.interval(0.8)
    undecided = (low < top) & (high > bottom)
    needed = decisions.impressions_needed(model, impressions, undecided, top, bottom, 0.8)
    assert np.isnan(needed[~undecided]).all()
    # between the thresholds: no volume decides it
    between = undecided & (model.center < top) & (model.center > bottom)
    assert between.any()
    assert np.isnan(needed[between]).all()
    # on a list's side (not on its threshold, which no volume clears either)
    gap = np.minimum(np.abs(model.center - top), np.abs(model.center - bottom))
    sided = undecided & ~between & (gap > 0.01)
    assert sided.any()
    assert not np.isnan(needed[sided]).any()
    up = model.center >= top
    for growth, decided in (
        (1 + needed / impressions, True),
        (1 + 0.98 * needed / impressions, False),
    ):
        low, high = model.interval(0.8, growth)
        cleared = np.where(up, low >= top, high <= bottom)
        assert np.all(cleared[sided] == decided)


# ---------------------------------------------------------------------------
# the classic output, the setup field and determinism
# ---------------------------------------------------------------------------


def test_the_classic_output_is_unchanged_beside_confidence() -> None:
    frame = _export(31)
    classic = _score(frame, None)
    confident = _score(frame)
    assert Setup.create(*ACTION).list_confidence is None
    assert classic.confidence is None
    assert classic.results.width == CLASSIC_COLUMNS
    assert "list_confidence" not in classic.summary()["setup"]
    assert "confidence" not in classic.summary()
    assert "list_confidence" not in classic.lists.criteria()
    # confidence adds columns after the classic ones and leaves those as they were
    assert confident.results.columns[:CLASSIC_COLUMNS] == classic.results.columns
    assert confident.results.select(classic.results.columns).equals(classic.results)
    assert confident.confidence is not None
    kept = confident.confidence.classic_lists
    assert kept.whitelist.select(classic.results.columns).equals(classic.lists.whitelist)
    assert kept.blacklist.select(classic.results.columns).equals(classic.lists.blacklist)
    assert kept.criteria() == classic.lists.criteria()
    summary, before = confident.summary(), classic.summary()
    assert summary["setup"] == {**before["setup"], "list_confidence": 0.8}
    changed = {"setup", "lists", "confidence"}
    assert {k: v for k, v in summary.items() if k not in changed} == {
        k: v for k, v in before.items() if k not in changed
    }


def test_the_summary_gives_the_priors_decisions_and_classic_lists() -> None:
    frame = _export(37)
    result = _score(frame)
    summary = result.summary()
    keys = list(summary)
    assert keys.index("confidence") == keys.index("lists") + 1
    block = summary["confidence"]
    assert block["level"] == 0.8
    assert set(block["priors"]["ctr"]) == {"mean", "strength", "rows", "trials"}
    decided = block["decisions"]
    assert list(decided) == ["whitelist", "blacklist", "undecided"]
    assert sum(d["count"] for d in decided.values()) == result.results.height
    assert sum(d["impressions"] for d in decided.values()) == pytest.approx(frame[IMPS].sum())
    assert sum(d["spend"] for d in decided.values()) == pytest.approx(frame[SPEND].sum())
    assert decided["whitelist"]["count"] == summary["lists"]["whitelist_count"]
    assert summary["lists"]["list_confidence"] == 0.8
    assert summary["lists"]["undecided_count"] == decided["undecided"]["count"]
    classic = block["classic_lists"]
    assert classic["whitelist_count"] > summary["lists"]["whitelist_count"]
    changes = block["changes"]["whitelist"]
    assert changes["kept"] + changes["dropped"] == classic["whitelist_count"]
    assert changes["kept"] + changes["added"] == summary["lists"]["whitelist_count"]


@pytest.mark.parametrize("level", [0.3, 0.499, 0.995, 1.0, math.nan, math.inf, True, "0.8"])
def test_list_confidence_outside_its_range_is_refused(level: object) -> None:
    with pytest.raises(InvalidParameterError, match="list_confidence") as caught:
        Setup.create(*ACTION, list_confidence=level)  # type: ignore[arg-type]
    assert caught.value.details["field"] == "list_confidence"


@pytest.mark.parametrize("level", [0.5, 0.8, 0.99])
def test_list_confidence_in_its_range_is_taken(level: float) -> None:
    assert Setup.create(*ACTION, list_confidence=level).to_dict()["list_confidence"] == level


def test_confidence_is_deterministic_whatever_the_row_order() -> None:
    frame = _export(41)
    first = _score(frame)
    again = _score(frame)
    shuffled = _score(frame.sample(fraction=1.0, shuffle=True, seed=5))
    assert first.results.equals(again.results)
    assert first.results.equals(shuffled.results)
    assert first.summary() == again.summary() == shuffled.summary()


def test_the_lists_in_use_are_the_runs_own_whatever_the_setup() -> None:
    confident = _score(_export(11), level=0.8)
    classic = _score(_export(11), level=None)
    for result in (confident, classic):
        again = decisions.lists_in_use(result.results, result.dimension, result.setup)
        assert again.whitelist.equals(result.lists.whitelist)
        assert again.blacklist.equals(result.lists.blacklist)
        assert again.confidence == result.setup.list_confidence
    # a floor of its own: the confident rule on the rows it makes eligible
    higher = decisions.lists_in_use(confident.results, confident.dimension, confident.setup, 5000)
    assert higher.min_impressions == 5000
    assert higher.confidence == 0.8
    assert (higher.whitelist["impressions"] >= 5000).all()
    assert higher.whitelist.height < confident.lists.whitelist.height
    with pytest.raises(InvalidParameterError):
        decisions.lists_in_use(confident.results, confident.dimension, confident.setup, math.nan)
