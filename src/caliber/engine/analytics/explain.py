"""Why a campaign, a row or a change between two exports scored as it did.

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
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from caliber.engine.analytics.base import MIN_ROWS, ScoredFrame
from caliber.engine.errors import InvalidParameterError
from caliber.engine.score import PERCENTILE, SCORE, STATUS, STATUSES

Array = npt.NDArray[np.float64]

EXPLAIN_METHODS = ("exact", "shap", "feature_importance", "correlation")
ROW_METHODS = ("exact", "shap")
SHAP_ROWS = 500  # rows whose SHAP values are averaged for the campaign importance
_EPS = 1e-9
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


class _Serializable:
    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict (nested results as dicts, sequences as tuples)."""
        result: dict[str, Any] = asdict(self)  # type: ignore[call-overload]
        return result


@dataclass(frozen=True)
class MetricImportance(_Serializable):
    metric: str
    importance: float
    share: float  # of the total importance; sums to 1 (all 0 when nothing matters)
    direction: str  # "higher_is_better" | "lower_is_better"
    weight: float


@dataclass(frozen=True)
class CampaignExplanation(_Serializable):
    method: str
    importances: tuple[MetricImportance, ...]  # most important first
    rows_used: int
    sampled: bool
    seed: int
    model_fit: float | None  # out-of-bag R^2 of the surrogate (shap, feature_importance)
    summary: str
    notes: tuple[str, ...]


@dataclass(frozen=True)
class MetricAttribution(_Serializable):
    metric: str
    value: float | None  # raw value; None when missing
    normalized: float | None  # None when the raw value is missing (the engine scores 0)
    campaign_average_normalized: float | None
    weight: float
    contribution: float  # weight x normalized (0 when missing)
    attribution: float  # exact: contribution - campaign mean contribution; shap: SHAP value


@dataclass(frozen=True)
class RowExplanation(_Serializable):
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


@dataclass(frozen=True)
class MetricChange(_Serializable):
    metric: str
    before: float | None  # impression-weighted campaign average of the raw metric
    after: float | None
    change: float | None
    normalized_before: float | None
    normalized_after: float | None
    effect_on_score: float | None  # mean contribution after - before (= weight x change)


@dataclass(frozen=True)
class Comparison(_Serializable):
    score_before: float  # impression-weighted: sum(score x imps) / sum(imps)
    score_after: float
    change: float
    mean_score_before: float
    mean_score_after: float
    changes: tuple[MetricChange, ...]  # by |effect_on_score|, largest first
    drivers: tuple[str, ...]  # fewest metrics covering 80% of the total |effect|
    status_counts_before: dict[str, int]
    status_counts_after: dict[str, int]
    common_rows: int
    only_before: int
    only_after: int
    summary: str


@dataclass(frozen=True)
class _Campaign:
    metrics: list[str]
    weights: Array  # (k,)
    normalized: Array  # (n, k), missing -> 0
    contributions: Array  # (n, k)
    score: Array  # (n,) the score column
    raw: Array  # (n, k) raw values, NaN when missing
    missing: npt.NDArray[np.bool_]  # (n, k) raw value absent or not finite


def _matrix(frame: pl.DataFrame, columns: Sequence[str]) -> Array:
    values = frame.select(pl.col(c).cast(pl.Float64).fill_null(0.0) for c in columns)
    out = values.to_numpy().astype(np.float64).reshape(frame.height, len(columns))
    return np.nan_to_num(out, nan=0.0, posinf=0.0, neginf=0.0)


def _prepare(data: ScoredFrame, metrics: Sequence[str] | None = None) -> _Campaign:
    data.require_rows()
    names, frame = list(metrics or data.metrics), data.frame
    absent = [data.normalized(m) for m in names if data.normalized(m) not in frame.columns]
    if not names or absent:
        msg = f"the results frame lacks normalized metric columns: {', '.join(absent) or 'all'}"
        raise InvalidParameterError(msg, field="metrics")
    weights = np.array([float(data.weights[m]) for m in names], dtype=np.float64)
    normalized = _matrix(frame, [data.normalized(m) for m in names])
    parts = [data.contribution(m) for m in names]
    has_parts = all(c in frame.columns for c in parts)
    contributions = _matrix(frame, parts) if has_parts else normalized * weights
    has_score = SCORE in frame.columns
    score = _matrix(frame, [SCORE])[:, 0] if has_score else contributions.sum(axis=1).round(2)
    raw = frame.select(
        (pl.col(m) if m in frame.columns else pl.lit(None)).cast(pl.Float64).alias(m) for m in names
    )
    values = raw.to_numpy().astype(np.float64).reshape(frame.height, len(names))
    missing = ~np.isfinite(values)
    raw_values = np.where(missing, np.nan, values)
    return _Campaign(names, weights, normalized, contributions, score, raw_values, missing)


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
    camp: _Campaign, seed: int, max_rows: int
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


def _join(parts: Sequence[str]) -> str:
    return parts[0] if len(parts) == 1 else f"{', '.join(parts[:-1])} and {parts[-1]}"


def _signed(metric: str, value: float) -> str:
    return f"{metric_label(metric)} ({value:+.1f})"


def _key(name: str) -> str:
    return name.strip().lower().removeprefix("www.")


def explain_campaign(
    data: ScoredFrame, method: str = "exact", *, seed: int = 0, max_rows: int = 20_000
) -> CampaignExplanation:
    """Rank the metrics by how much they drive score differences across the campaign."""
    _check(method, EXPLAIN_METHODS, seed, max_rows)
    camp = _prepare(data)
    n, spread = camp.score.size, camp.normalized.std(axis=0)
    notes = [
        f"{metric_label(m)} does not vary across the campaign: importance 0"
        for m, s in zip(camp.metrics, spread, strict=True)
        if s <= _EPS
    ]
    fit: float | None = None
    rows_used = n
    if method == "exact":
        importance = camp.contributions.std(axis=0)
    elif method == "correlation":
        importance = _abs_pearson(camp.normalized, camp.score, spread)
        if camp.score.std() <= _EPS:
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
    if y_spread <= _EPS:
        return np.zeros(x.shape[1])
    covariance = ((x - x.mean(axis=0)) * (y - y.mean())[:, None]).mean(axis=0)
    r: Array = np.abs(covariance) / (np.where(spread > _EPS, spread, np.inf) * y_spread)
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
    text = f"{_LEADS[method]} {_join(top)}."
    if fit is not None and fit < 0.7:
        text += f" The model fits the scores poorly (R^2 {fit:.2f}): read this with care."
    return text


def explain_row(
    data: ScoredFrame, name: str, method: str = "exact", *, seed: int = 0, max_rows: int = 20_000
) -> RowExplanation:
    """Why one domain or supply vendor scored as it did, against the campaign average."""
    _check(method, ROW_METHODS, seed, max_rows)
    camp = _prepare(data)
    names = [str(v) for v in data.frame[data.dimension].to_list()]
    i = next((r for r, v in enumerate(names) if _key(v) == _key(name)), None)
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
    up = tuple(a.metric for a in items if a.attribution > _EPS)
    down = tuple(a.metric for a in items if a.attribution < -_EPS)
    sentence = _row_sentence(names[i], score, average, items)
    return RowExplanation(
        names[i], score, average, status, int(rank or 0), method, tuple(items), up, down,
        sentence, confidence,
    )  # fmt: skip


def _row_sentence(
    name: str, score: float, average: float, items: Sequence[MetricAttribution]
) -> str:
    diff = score - average
    ups = [a for a in items if a.attribution > _EPS]
    downs = [a for a in items if a.attribution < -_EPS]
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
        parts.append(f"{lead} {_join([_signed(a.metric, a.attribution) for a in main[:2]])}")
    if counter:
        lead = "held back by" if diff >= 0 else "partly offset by"
        parts.append(f"{lead} {_signed(counter[0].metric, counter[0].attribution)}")
    return f"{head}, {', '.join(parts)}."


def _row_weights(frame: pl.DataFrame) -> Array:
    """Impressions (equal weights when the frame has none)."""
    if "impressions" not in frame.columns:
        return np.ones(frame.height)
    imps = np.clip(_matrix(frame, ["impressions"])[:, 0], 0.0, None)
    return imps if imps.sum() > 0 else np.ones(frame.height)


def _mean(values: Array, weights: Array) -> Array:
    """Weighted column means."""
    result: Array = weights @ values / weights.sum()
    return result


def _raw_means(camp: _Campaign, weights: Array) -> list[float | None]:
    """Weighted mean of each raw metric over the rows that have it."""
    present = np.where(camp.missing, 0.0, weights[:, None])
    sums, totals = (np.nan_to_num(camp.raw) * present).sum(axis=0), present.sum(axis=0)
    return [float(s / t) if t > 0 else None for s, t in zip(sums, totals, strict=True)]


def _status_counts(frame: pl.DataFrame) -> dict[str, int]:
    found = frame[STATUS].cast(pl.String).fill_null("unknown") if STATUS in frame.columns else ()
    return {**dict.fromkeys(STATUSES, 0), **Counter[str](found)}


def compare(before: ScoredFrame, after: ScoredFrame) -> Comparison:
    """What changed between two scored exports of a campaign and which metrics moved the
    impression-weighted campaign score. Each export is normalized on its own range; the
    effects (changes in impression-weighted mean contribution) add up to the score change."""
    before.require_rows()
    after.require_rows()
    only_b = sorted(set(before.metrics) - set(after.metrics))
    only_a = sorted(set(after.metrics) - set(before.metrics))
    if only_b or only_a:
        raise InvalidParameterError(
            "the two campaigns score different metrics: only before: "
            f"{', '.join(only_b) or 'none'}; only after: {', '.join(only_a) or 'none'}",
            field="metrics",
        )
    if before.dimension != after.dimension:
        msg = f"cannot compare {before.dimension} rows with {after.dimension} rows"
        raise InvalidParameterError(msg, field="dimension")
    cb, ca = _prepare(before), _prepare(after, before.metrics)
    wb, wa = _row_weights(before.frame), _row_weights(after.frame)
    nb, na = _mean(cb.normalized, wb), _mean(ca.normalized, wa)
    effects = _mean(ca.contributions, wa) - _mean(cb.contributions, wb)
    changes: list[MetricChange] = []
    for j, (rb, ra) in enumerate(zip(_raw_means(cb, wb), _raw_means(ca, wa), strict=True)):
        delta = None if rb is None or ra is None else ra - rb
        items = (float(nb[j]), float(na[j]), float(effects[j]))
        changes.append(MetricChange(cb.metrics[j], rb, ra, delta, *items))
    changes.sort(key=lambda c: -abs(c.effect_on_score or 0.0))
    drivers = _drivers(changes)
    score_b, score_a = (
        float(_mean(cb.score[:, None], wb)[0]),
        float(_mean(ca.score[:, None], wa)[0]),
    )
    keys_b = {_key(str(v)) for v in before.frame[before.dimension].to_list()}
    keys_a = {_key(str(v)) for v in after.frame[after.dimension].to_list()}
    counts = (len(keys_b & keys_a), len(keys_b - keys_a), len(keys_a - keys_b))
    summary = _compare_summary(score_b, score_a, changes, drivers, counts)
    means = float(cb.score.mean()), float(ca.score.mean())
    statuses = _status_counts(before.frame), _status_counts(after.frame)
    return Comparison(
        score_b, score_a, score_a - score_b, *means, tuple(changes), drivers, *statuses, *counts,
        summary,
    )  # fmt: skip


def _drivers(changes: Sequence[MetricChange]) -> tuple[str, ...]:
    """Fewest metrics (largest |effect| first) covering 80% of the total |effect|; none
    when nothing moved."""
    effects = [abs(c.effect_on_score or 0.0) for c in changes]
    total, covered, picked = sum(effects), 0.0, []
    for change, effect in zip(changes, effects, strict=True):
        if total <= _EPS or covered >= 0.8 * total - _EPS:
            break
        picked.append(change.metric)
        covered += effect
    return tuple(picked)


def _compare_summary(
    before: float,
    after: float,
    changes: Sequence[MetricChange],
    drivers: Sequence[str],
    counts: tuple[int, int, int],
) -> str:
    change, (common, gone, new) = after - before, counts
    if abs(change) < 0.05:
        text = f"The campaign score held steady at {after:.1f} ({change:+.1f})"
    else:
        verb = "rose" if change > 0 else "fell"
        text = f"The campaign score {verb} from {before:.1f} to {after:.1f} ({change:+.1f})"
    effects = {c.metric: c.effect_on_score or 0.0 for c in changes}
    along = [_signed(m, effects[m]) for m in drivers if effects[m] * change >= 0]
    against = [_signed(m, effects[m]) for m in drivers if effects[m] * change < 0]
    if along:
        text += f", driven by {_join(along)}"
    if against:
        text += f"{',' if along else ''} partly offset by {_join(against)}"
    text += "."
    if gone or new:
        text += (
            f" {common:,} rows appear in both exports, {gone:,} only before and {new:,} only after."
        )
    return text
