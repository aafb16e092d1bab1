"""Why a campaign or one of its rows scored as it did (what changed between two exports
is :mod:`caliber.engine.analytics.compare`).

* ``exact`` (default, no model; the score is linear so it decomposes exactly): campaign
  importance of a metric = weight x population standard deviation of its normalized values
  (the spread of its contribution column). Row attribution = contribution - campaign mean
  contribution; a row's attributions add up to its unrounded score (sum of contributions)
  minus the campaign mean of that.
* ``shap``: a random-forest surrogate (normalized metrics -> score) on a seeded sample of
  at most ``max_rows`` rows, explained by ``shap.TreeExplainer``; campaign importance =
  mean |SHAP| over at most ``SHAP_ROWS`` fitted rows.
* ``feature_importance`` (campaign only): the same forest's impurity importances.
* ``correlation`` (campaign only): |Pearson r| of each normalized metric with the score.

Missing values count as the engine scores them (normalized 0). scikit-learn and SHAP are
imported only by the model-based methods."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from caliber.engine.analytics.base import MIN_ROWS, ScoredFrame
from caliber.engine.analytics.matrices import (
    EPS,
    Array,
    CampaignArrays,
    campaign_arrays,
    row_key,
)
from caliber.engine.errors import InvalidParameterError
from caliber.engine.score import PERCENTILE, STATUS

EXPLAIN_METHODS = ("exact", "shap", "feature_importance", "correlation")
ROW_METHODS = ("exact", "shap")
SHAP_ROWS = 500  # rows whose SHAP values are averaged for the campaign importance
_LABELS = {
    "ctr": "CTR",
    "cpm": "CPM",
    "ecpm": "eCPM",
    "conversion_rate": "conversion rate",
    "ias_display_fully_in_view_1s_rate": "viewability (fully in view 1 s)",
    "ad_load_xl_rate": "excessive ad load rate",
    "ad_refresh_below_15s_rate": "fast ad refresh rate",
}


def metric_label(name: str) -> str:
    """A metric's name as a reader would write it in a sentence."""
    return _LABELS.get(name, name.replace("_", " "))


class Serializable:
    """A frozen result dataclass that turns itself into JSON-able values."""

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict (nested results as dicts, sequences as tuples)."""
        result: dict[str, Any] = asdict(self)  # type: ignore[call-overload]
        return result


@dataclass(frozen=True)
class MetricImportance(Serializable):
    metric: str
    importance: float
    share: float  # of the total importance; sums to 1 (all 0 when nothing matters)
    direction: str  # "higher_is_better" | "lower_is_better"
    weight: float


@dataclass(frozen=True)
class CampaignExplanation(Serializable):
    method: str
    importances: tuple[MetricImportance, ...]  # most important first
    rows_used: int
    sampled: bool
    seed: int
    model_fit: float | None  # out-of-bag R^2 of the surrogate (shap, feature_importance)
    summary: str
    notes: tuple[str, ...]


@dataclass(frozen=True)
class MetricAttribution(Serializable):
    metric: str
    value: float | None  # raw value; None when missing
    normalized: float | None  # None when the raw value is missing (the engine scores 0)
    campaign_average_normalized: float | None
    weight: float
    contribution: float  # weight x normalized (0 when missing)
    attribution: float  # exact: contribution - campaign mean contribution; shap: SHAP value


@dataclass(frozen=True)
class RowExplanation(Serializable):
    name: str
    score: float  # the row's (rounded) score
    campaign_average_score: float  # mean unrounded score (sum of contributions)
    quality_status: str
    percentile_rank: int
    method: str
    attributions: tuple[MetricAttribution, ...]  # by |attribution|, largest first
    drivers_up: tuple[str, ...]
    drivers_down: tuple[str, ...]
    sentence: str
    confidence: str  # "high" | "medium" | "low"


def _check(method: str, allowed: Sequence[str], seed: int, max_rows: int) -> None:
    problem, field = "", "method"
    if method not in EXPLAIN_METHODS:
        problem = f"unknown method {method!r}; valid methods: {', '.join(EXPLAIN_METHODS)}"
    elif method not in allowed:
        problem = f"method {method!r} explains a whole campaign; rows support exact and shap"
    elif not 0 <= seed < 2**32:
        problem, field = "seed must be between 0 and 2**32 - 1", "seed"
    elif max_rows < MIN_ROWS:
        problem, field = f"max_rows must be at least {MIN_ROWS}", "max_rows"
    if problem:
        raise InvalidParameterError(problem, field=field)


def _surrogate(
    camp: CampaignArrays, seed: int, max_rows: int
) -> tuple[Any, npt.NDArray[np.int64], float, list[str]]:
    """The seeded forest, the rows it was fitted on, its out-of-bag R^2 and notes."""
    from sklearn.ensemble import RandomForestRegressor

    n = camp.score.size
    if n > max_rows:
        rows = np.sort(np.random.default_rng(seed).choice(n, size=max_rows, replace=False))
        notes = [f"fitted on a sample of {max_rows:,} of {n:,} rows (seed {seed})"]
    else:
        rows, notes = np.arange(n), [f"fitted on all {n:,} rows"]
    model = RandomForestRegressor(
        n_estimators=100, max_depth=8, random_state=seed, n_jobs=1, oob_score=True
    )
    model.fit(camp.normalized[rows], camp.score[rows])
    fit = float(np.nan_to_num(model.oob_score_))  # R^2 on the rows each tree did not see
    notes.append(f"random-forest surrogate, out-of-bag R^2 {fit:.3f}")
    return model, rows.astype(np.int64), fit, notes


def _shap(model: Any, x: Array) -> Array:
    """SHAP values (rows x metrics) of the forest's predictions."""
    with warnings.catch_warnings():  # shap's import trips deprecations in its plotting deps
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        import shap
    values = shap.TreeExplainer(model).shap_values(x)
    return np.nan_to_num(np.asarray(values, dtype=np.float64).reshape(x.shape))


def join_words(parts: Sequence[str]) -> str:
    """'a', 'a and b', 'a, b and c'."""
    return parts[0] if len(parts) == 1 else f"{', '.join(parts[:-1])} and {parts[-1]}"


def signed(metric: str, value: float) -> str:
    """A metric and its signed effect, for sentences: 'CTR (+3.2)'."""
    return f"{metric_label(metric)} ({value:+.1f})"


def explain_campaign(
    data: ScoredFrame, method: str = "exact", *, seed: int = 0, max_rows: int = 20_000
) -> CampaignExplanation:
    """Rank the metrics by how much they drive score differences across the campaign."""
    _check(method, EXPLAIN_METHODS, seed, max_rows)
    camp = campaign_arrays(data)
    n, spread = camp.score.size, camp.normalized.std(axis=0)
    notes = [
        f"{metric_label(m)} does not vary across the campaign: importance 0"
        for m, s in zip(camp.metrics, spread, strict=True)
        if s <= EPS
    ]
    fit: float | None = None
    rows_used = n
    if method == "exact":
        importance = camp.contributions.std(axis=0)
    elif method == "correlation":
        importance = _abs_pearson(camp.normalized, camp.score, spread)
        if camp.score.std() <= EPS:
            notes.append("every row has the same score: no metric correlates with it")
    else:
        model, rows, fit, more = _surrogate(camp, seed, max_rows)
        notes, rows_used = notes + more, rows.size
        if method == "feature_importance":
            importance = np.asarray(model.feature_importances_, dtype=np.float64)
        else:
            if rows.size > SHAP_ROWS:
                rows = np.sort(np.random.default_rng(seed).choice(rows, SHAP_ROWS, replace=False))
                notes.append(f"mean |SHAP| over {SHAP_ROWS:,} of the {rows_used:,} fitted rows")
            importance = np.abs(_shap(model, camp.normalized[rows])).mean(axis=0)
    importance = np.clip(np.nan_to_num(importance, nan=0.0), 0.0, None)
    total = float(importance.sum())
    ranked = tuple(
        MetricImportance(
            camp.metrics[j],
            float(importance[j]),
            float(importance[j] / total) if total > 0 else 0.0,
            "higher_is_better"
            if data.higher_is_better.get(camp.metrics[j], True)
            else "lower_is_better",
            float(camp.weights[j]),
        )
        for j in sorted(range(len(camp.metrics)), key=lambda j: -importance[j])
    )
    summary = _campaign_summary(method, ranked, fit)
    sampled = rows_used < n
    return CampaignExplanation(method, ranked, rows_used, sampled, seed, fit, summary, tuple(notes))


def _abs_pearson(x: Array, y: Array, spread: Array) -> Array:
    """|Pearson r| of each column of x with y; 0 for a constant column or score."""
    y_spread = float(y.std())
    if y_spread <= EPS:
        return np.zeros(x.shape[1])
    covariance = ((x - x.mean(axis=0)) * (y - y.mean())[:, None]).mean(axis=0)
    r: Array = np.abs(covariance) / (np.where(spread > EPS, spread, np.inf) * y_spread)
    return np.clip(r, 0.0, 1.0)


_LEADS = {
    "exact": "Scores vary across the campaign mostly because of",
    "shap": "The surrogate model attributes score differences mostly to",
    "feature_importance": "The surrogate model relies mostly on",
    "correlation": "The score moves most closely with",
}


def _campaign_summary(method: str, ranked: Sequence[MetricImportance], fit: float | None) -> str:
    top = [f"{metric_label(i.metric)} ({i.share:.0%})" for i in ranked[:2] if i.share > 0]
    if not top:
        return "No metric varies across the campaign, so none explains the scores."
    text = f"{_LEADS[method]} {join_words(top)}."
    if fit is not None and fit < 0.7:
        text += f" The model fits the scores poorly (R^2 {fit:.2f}): read this with care."
    return text


def explain_row(
    data: ScoredFrame, name: str, method: str = "exact", *, seed: int = 0, max_rows: int = 20_000
) -> RowExplanation:
    """Why one domain or supply vendor scored as it did, against the campaign average."""
    _check(method, ROW_METHODS, seed, max_rows)
    camp = campaign_arrays(data)
    names = [str(v) for v in data.frame[data.dimension].to_list()]
    i = next((r for r, v in enumerate(names) if row_key(v) == row_key(name)), None)
    if i is None:
        raise InvalidParameterError(f"{name} is not among the scored rows", field="name")
    average = float(camp.contributions.sum(axis=1).mean())
    if method == "exact":
        attribution, confidence = camp.contributions[i] - camp.contributions.mean(axis=0), "high"
    else:
        model, _, fit, _ = _surrogate(camp, seed, max_rows)
        attribution = _shap(model, camp.normalized[i : i + 1])[0]
        confidence = "high" if fit >= 0.9 else "medium" if fit >= 0.7 else "low"
    absent = int(camp.missing[i].sum())  # half or more missing: low; some: at most medium
    if absent:
        low = absent * 2 >= len(camp.metrics)
        confidence = "low" if low else confidence.replace("high", "medium")
    row, means = data.frame.row(i, named=True), camp.normalized.mean(axis=0)
    items = sorted(
        (
            MetricAttribution(
                m,
                None if camp.missing[i, j] else float(camp.raw[i, j]),
                None if camp.missing[i, j] else float(camp.normalized[i, j]),
                float(means[j]),
                float(camp.weights[j]),
                float(camp.contributions[i, j]),
                float(attribution[j]),
            )
            for j, m in enumerate(camp.metrics)
        ),
        key=lambda a: -abs(a.attribution),
    )
    score, status, rank = float(camp.score[i]), str(row.get(STATUS) or ""), row.get(PERCENTILE)
    up = tuple(a.metric for a in items if a.attribution > EPS)
    down = tuple(a.metric for a in items if a.attribution < -EPS)
    sentence = _row_sentence(names[i], score, average, items)
    return RowExplanation(
        names[i], score, average, status, int(rank or 0), method, tuple(items), up, down,
        sentence, confidence,
    )  # fmt: skip


def _row_sentence(
    name: str, score: float, average: float, items: Sequence[MetricAttribution]
) -> str:
    diff = score - average
    ups = [a for a in items if a.attribution > EPS]
    downs = [a for a in items if a.attribution < -EPS]
    if abs(diff) < 0.05:
        head = f"{name} scored {score:.1f}, in line with the campaign average of {average:.1f}"
    else:
        side = "above" if diff > 0 else "below"
        head = f"{name} scored {score:.1f}, {abs(diff):.1f} {side} the campaign average"
    main, counter = (ups, downs) if diff >= 0 else (downs, ups)
    if not main and not counter:
        return f"{head}; no metric sets it apart."
    parts = []
    if main:
        lead = "mostly thanks to" if diff >= 0 else "mostly because of"
        parts.append(f"{lead} {join_words([signed(a.metric, a.attribution) for a in main[:2]])}")
    if counter:
        lead = "held back by" if diff >= 0 else "partly offset by"
        parts.append(f"{lead} {signed(counter[0].metric, counter[0].attribution)}")
    return f"{head}, {', '.join(parts)}."
