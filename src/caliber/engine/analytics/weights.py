"""Learned metric weights: derive weights from the data, and find the weights whose score
best agrees with an outcome (the searches over the weight simplex are
:mod:`caliber.engine.analytics.weight_search`; how sensitive the labels are to each
weight is :mod:`caliber.engine.analytics.sensitivity`).

Features are the setup's ``<metric>_normalized`` columns (0-100, direction already
applied, missing values already 0 as in the engine). Correlations are Spearman rank
correlations computed with numpy average ranks: the score only matters through the
ranking it induces (percentile, label and list membership depend on rank alone), and
ranks are robust to the heavy tails of targets such as conversions. The optimizers
maximize the same rank agreement. scikit-learn and bayes_opt are imported only inside
the functions that use them. Everything is deterministic for a seed.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from caliber.engine.analytics.base import MIN_ROWS, ScoredFrame
from caliber.engine.analytics.weight_search import bayesian_search, genetic_search, grid_search
from caliber.engine.errors import InvalidParameterError

WEIGHT_METHODS = ("equal", "correlation", "mutual_info", "f_score", "variance", "custom")
OPTIMIZERS = ("grid", "genetic", "bayesian")
_TARGET_METHODS = ("correlation", "mutual_info", "f_score")
_UNITS = 10_000  # weights are reported to 4 decimals
_MAX_BUDGET = 10_000

Array = npt.NDArray[np.float64]


@dataclass(frozen=True)
class WeightResult:
    method: str
    target: str | None
    weights: dict[str, float]  # 4 decimals whose decimal sum is exactly 1; setup's order
    raw: dict[str, float]  # before normalization
    ranking: tuple[str, ...]  # metrics by weight, largest first
    summary: str
    notes: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ranking": list(self.ranking), "notes": list(self.notes)}


@dataclass(frozen=True)
class OptimizationResult:
    optimizer: str
    target: str
    weights: dict[str, float]
    agreement: float  # Spearman rank correlation of the weighted score with the target
    baseline_weights: dict[str, float]  # the starting weights (given, or equal)
    baseline_agreement: float
    evaluations: int
    seed: int
    summary: str
    notes: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "notes": list(self.notes)}


def feature_matrix(data: ScoredFrame) -> Array:
    """The normalized metric columns as an (n, k) matrix; null or NaN counts as 0."""
    missing = [m for m in data.metrics if data.normalized(m) not in data.frame.columns]
    if missing:
        raise InvalidParameterError(
            f"the results frame lacks normalized columns for: {', '.join(missing)}",
            field="metrics",
            missing=missing,
        )
    columns = [pl.col(data.normalized(m)).cast(pl.Float64) for m in data.metrics]
    matrix: Array = data.frame.select(columns).to_numpy().astype(np.float64)
    matrix[~np.isfinite(matrix)] = 0.0
    return matrix


def _choose(value: str, accepted: tuple[str, ...], what: str) -> None:
    if value not in accepted:
        raise InvalidParameterError(
            f"unknown {what} {value!r}; accepted: {', '.join(accepted)}",
            field=what,
            accepted=list(accepted),
        )


def _target(data: ScoredFrame, target: str | None) -> tuple[Array, Array, str, list[str]]:
    """(features, target values, target name, notes) over the rows with a finite target."""
    numeric = [name for name, dtype in data.frame.schema.items() if dtype.is_numeric()]
    if target is None or target not in numeric:
        what = "a target column is required" if target is None else f"unknown target {target!r}"
        raise InvalidParameterError(
            f"{what}; numeric columns: {', '.join(numeric)}", field="target", accepted=numeric
        )
    data.require_rows()
    values = data.frame[target].cast(pl.Float64).fill_nan(None).to_numpy()
    keep = np.isfinite(values)
    notes: list[str] = []
    if not keep.all():
        notes.append(f"{int((~keep).sum())} row(s) without a {target} value were left out")
    if keep.sum() < MIN_ROWS:
        raise InvalidParameterError(
            f"{int(keep.sum())} rows have a {target} value; {MIN_ROWS} needed", field="target"
        )
    base = target.removesuffix("_normalized")
    if base in data.weights:
        notes.append(
            f"target {target} is also the scored metric {base}: its weight is expected to dominate"
        )
        if target == base and not data.higher_is_better.get(base, True):
            notes.append(
                f"{base} is lower-is-better but its raw values are used as the target (higher "
                f"= better); use {data.normalized(base)} for the direction-aware form"
            )
    return feature_matrix(data)[keep], values[keep].astype(np.float64), target, notes


def _rank(values: Array) -> Array:
    """Average ranks (1 = lowest), ties sharing their mean rank, like scipy's rankdata."""
    n = values.shape[0]
    order = np.argsort(values, kind="mergesort")
    ordered = values[order]
    first = np.empty(n, dtype=bool)
    first[:1] = True
    first[1:] = ordered[1:] != ordered[:-1]
    starts = np.flatnonzero(first)
    counts = np.diff(np.append(starts, n))
    ranks = np.empty(n, dtype=np.float64)
    ranks[order] = np.repeat(starts + (counts + 1) / 2.0, counts)
    return ranks


def _centered(ranks: Array) -> Array:
    """Ranks centred and scaled to unit norm (zeros when constant)."""
    centred = ranks - ranks.mean()
    norm = float(np.sqrt(centred @ centred))
    return centred / norm if norm > 0 else np.zeros_like(centred)


def _finish(vector: Array) -> Array:
    """Non-negative weights normalized and rounded to 4 decimals; the largest weight (the
    last of equal ones) absorbs the rounding remainder, so the 4-decimal values sum to
    exactly 1 (as binary floats, to within 1e-15)."""
    clean = np.where(np.isfinite(vector) & (vector > 0), vector, 0.0)
    clean = clean / clean.max() if clean.max() > 0 else clean  # no overflow in the sum
    total = float(clean.sum())
    clean = clean / total if total > 0 else np.full(clean.shape, 1.0 / clean.shape[0])
    units = np.round(clean * _UNITS).astype(np.int64)
    largest = int(clean.shape[0] - 1 - np.argmax(clean[::-1]))
    units[largest] += _UNITS - int(units.sum())
    return units.astype(np.float64) / _UNITS


def weights_dict(data: ScoredFrame, vector: Array) -> dict[str, float]:
    return {m: float(w) for m, w in zip(data.metrics, vector, strict=True)}


def checked_weights(data: ScoredFrame, weights: Mapping[str, float], what: str) -> Array:
    """User weights validated against the setup's metrics (not yet normalized)."""
    expected = data.metrics
    unknown = sorted(set(weights) - set(expected))
    missing = [m for m in expected if m not in weights]
    if unknown or missing:
        parts = [f"unknown metric(s) {', '.join(unknown)}"] if unknown else []
        parts += [f"missing metric(s) {', '.join(missing)}"] if missing else []
        raise InvalidParameterError(
            f"{what} must name exactly the setup's metrics ({', '.join(expected)}): "
            + "; ".join(parts),
            field=what,
            unknown=unknown,
            missing=missing,
        )
    real = {m: not isinstance(w, bool) and isinstance(w, numbers.Real) for m, w in weights.items()}
    bad = [m for m in expected if not (real[m] and math.isfinite(weights[m]) and weights[m] >= 0)]
    if bad:
        raise InvalidParameterError(
            f"{what} must be finite numbers >= 0; invalid: {', '.join(bad)}",
            field=what,
            invalid=bad,
        )
    vector = np.array([float(weights[m]) for m in expected], dtype=np.float64)
    if not vector.sum() > 0:
        raise InvalidParameterError(f"{what} are all zero; at least one must be > 0", field=what)
    return vector


def _top(weights: Mapping[str, float], ranking: tuple[str, ...], count: int = 3) -> str:
    names = [f"{m} ({weights[m]:.2f})" for m in ranking[:count]]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def calculate_weights(
    data: ScoredFrame,
    method: str,
    target: str | None = None,
    custom: Mapping[str, float] | None = None,
    *,
    seed: int = 0,
) -> WeightResult:
    """Weights by ``method``: ``equal`` (1/k), ``correlation`` (|Spearman| with the
    target), ``mutual_info`` (scikit-learn's estimate, seeded), ``f_score`` (univariate
    F statistic), ``variance`` (of each normalized column) or ``custom`` (validated user
    weights). Raw scores are normalized to sum 1; all-zero raw scores fall back to equal."""
    _choose(method, WEIGHT_METHODS, "method")
    if custom is not None and method != "custom":
        raise InvalidParameterError(
            "custom weights are only used with method 'custom'", field="custom"
        )
    k = len(data.metrics)
    notes: list[str] = []
    used_target: str | None = None
    if method in _TARGET_METHODS:
        features, values, used_target, notes = _target(data, target)
        ranks = _centered(_rank(values))
        signs = np.array([float(_centered(_rank(col)) @ ranks) for col in features.T])
        raw = np.abs(signs) if method == "correlation" else _sklearn(method, features, values, seed)
        negative = [f"{m} ({s:.2f})" for m, s in zip(data.metrics, signs, strict=True) if s < -0.05]
        if negative:
            notes.append(
                f"negatively rank-correlated with {used_target}: {', '.join(negative)}; "
                "a higher weight on these ranks rows away from the target"
            )
    elif target is not None:
        notes.append(f"method {method} does not use a target; {target} was ignored")
    if method == "equal":
        raw = np.ones(k)
    elif method == "variance":
        data.require_rows()
        raw = feature_matrix(data).var(axis=0)
    elif method == "custom":
        if custom is None:
            raise InvalidParameterError("method 'custom' needs custom weights", field="custom")
        raw = checked_weights(data, custom, "custom")
    raw = np.where(np.isfinite(raw) & (raw > 0), raw, 0.0)
    if not raw.sum() > 0:
        notes.append(f"every {method} score is 0; fell back to equal weights")
    weights = weights_dict(data, _finish(raw))
    ranking = tuple(sorted(data.metrics, key=lambda m: -weights[m]))
    against = f" against {used_target}" if used_target else ""
    summary = f"{method} weights{against}: most weight on {_top(weights, ranking)}."
    return WeightResult(
        method, used_target, weights, weights_dict(data, raw), ranking, summary, tuple(notes)
    )


def _sklearn(method: str, features: Array, values: Array, seed: int) -> Array:
    import warnings

    from sklearn.feature_selection import f_regression, mutual_info_regression

    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        if method == "mutual_info":
            found = mutual_info_regression(features, values, random_state=seed)
        else:
            found = f_regression(features, values)[0]
    return np.nan_to_num(np.asarray(found, dtype=np.float64), nan=0.0, posinf=0.0)


def optimize_weights(
    data: ScoredFrame,
    target: str,
    optimizer: str,
    *,
    seed: int = 0,
    budget: int = 200,
    start: Mapping[str, float] | None = None,
) -> OptimizationResult:
    """Weights (>= 0, summing to 1, 4 decimals) maximizing the Spearman rank agreement of
    the weighted score with ``target``: rank is what percentile, label and list membership
    depend on. ``grid`` walks a simplex lattice (step 0.1 for up to 4 metrics, else 0.2;
    a seeded subset with the start and the vertices when it exceeds ``budget``),
    ``genetic`` runs a small seeded genetic algorithm, ``bayesian`` runs bayes_opt over
    [0, 1]^k mapped onto the simplex by normalization. The start (default: equal weights)
    is always evaluated, so the result is never worse than it."""
    _choose(optimizer, OPTIMIZERS, "optimizer")
    if isinstance(budget, bool) or not isinstance(budget, int) or not 10 <= budget <= _MAX_BUDGET:
        raise InvalidParameterError(
            f"budget must be an integer in [10, {_MAX_BUDGET}], got {budget!r}", field="budget"
        )
    features, values, target, notes = _target(data, target)
    k = features.shape[1]
    first = _finish(np.ones(k) if start is None else checked_weights(data, start, "start"))
    target_ranks = _centered(_rank(values))
    best: list[tuple[float, Array]] = []
    seen: dict[bytes, float] = {}

    def evaluate(vector: Array) -> float:
        weights = _finish(vector)
        key = weights.tobytes()
        if key not in seen:
            scores = np.round(features @ weights, 2)
            seen[key] = float(_centered(_rank(scores)) @ target_ranks)
            best.append((seen[key], weights))
        return seen[key]

    baseline = evaluate(first)
    searches = {"grid": grid_search, "genetic": genetic_search, "bayesian": bayesian_search}
    evaluations = 1 + searches[optimizer](evaluate, first, budget - 1, seed)
    agreement, found = max(best, key=lambda pair: pair[0])  # first of equals: the start
    weights = weights_dict(data, found)
    ranking = tuple(sorted(weights, key=lambda m: -weights[m]))
    summary = (
        f"{optimizer.capitalize()} search over {evaluations} weight sets moved the rank "
        f"agreement with {target} from {baseline:.3f} (start) to {agreement:.3f}; "
        f"largest weights: {_top(weights, ranking)}."
    )
    base, info = weights_dict(data, first), tuple(notes)
    return OptimizationResult(
        optimizer, target, weights, agreement, base, baseline, evaluations, seed, summary, info
    )
