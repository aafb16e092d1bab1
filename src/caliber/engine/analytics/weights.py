"""Learned metric weights: derive weights from the data, search the weight simplex for the
weights whose score best agrees with an outcome, and measure how sensitive the labels are
to each weight.

Features are the setup's ``<metric>_normalized`` columns (0-100, direction already
applied, missing values already 0 as in the engine). Correlations are Spearman rank
correlations computed with numpy average ranks: the score only matters through the
ranking it induces (percentile, label and list membership depend on rank alone), and
ranks are robust to the heavy tails of targets such as conversions. The optimizers
maximize the same rank agreement. scikit-learn and bayes_opt are imported only inside
the functions that use them. Everything is deterministic for a seed.
"""

from __future__ import annotations

import itertools
import math
import numbers
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from caliber.engine.analytics.base import MIN_ROWS, ScoredFrame
from caliber.engine.config import GOOD_PERCENTILE, MODERATE_PERCENTILE
from caliber.engine.errors import InvalidParameterError
from caliber.engine.score import SCORE, STATUS

WEIGHT_METHODS = ("equal", "correlation", "mutual_info", "f_score", "variance", "custom")
OPTIMIZERS = ("grid", "genetic", "bayesian")
_TARGET_METHODS = ("correlation", "mutual_info", "f_score")
_UNITS = 10_000  # weights are reported to 4 decimals
_MAX_BUDGET = 10_000
_POPULATION = 20
_N_RANDOM = 2_000  # acquisition candidates per Bayesian step
_RETUNE_EVERY = 10  # Bayesian steps between GP kernel tunings

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


@dataclass(frozen=True)
class SensitivityRow:
    metric: str
    weight: float
    labels_changed_up: int  # rows whose label changes when the weight moves +delta
    labels_changed_down: int  # ... when it moves -delta (clipped at 0)
    score_shift_mean_abs_up: float
    score_shift_mean_abs_down: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _features(data: ScoredFrame) -> Array:
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
    return _features(data)[keep], values[keep].astype(np.float64), target, notes


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


def _as_dict(data: ScoredFrame, vector: Array) -> dict[str, float]:
    return {m: float(w) for m, w in zip(data.metrics, vector, strict=True)}


def _checked(data: ScoredFrame, weights: Mapping[str, float], what: str) -> Array:
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
        raw = _features(data).var(axis=0)
    elif method == "custom":
        if custom is None:
            raise InvalidParameterError("method 'custom' needs custom weights", field="custom")
        raw = _checked(data, custom, "custom")
    raw = np.where(np.isfinite(raw) & (raw > 0), raw, 0.0)
    if not raw.sum() > 0:
        notes.append(f"every {method} score is 0; fell back to equal weights")
    weights = _as_dict(data, _finish(raw))
    ranking = tuple(sorted(data.metrics, key=lambda m: -weights[m]))
    against = f" against {used_target}" if used_target else ""
    summary = f"{method} weights{against}: most weight on {_top(weights, ranking)}."
    return WeightResult(
        method, used_target, weights, _as_dict(data, raw), ranking, summary, tuple(notes)
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


def weighted_score(data: ScoredFrame, weights: Mapping[str, float]) -> pl.Series:
    """The engine's score under ``weights``: Σ w/Σw · normalized (null counts as 0, as the
    engine's normalization does), rounded to 2 decimals; 0-100."""
    vector = _checked(data, weights, "weights")
    pairs = zip(data.metrics, vector / vector.sum(), strict=True)
    _features(data)  # names any missing normalized column
    terms = [pl.col(data.normalized(m)).fill_null(0.0).fill_nan(0.0) * float(w) for m, w in pairs]
    return data.frame.select(pl.sum_horizontal(terms).round(2)).to_series().alias(SCORE)


def relabel(scores: pl.Series) -> pl.Series:
    """good / moderate / poor by the engine's rule: percentile =
    round_half_even(100 · average rank / N); good >= 75, moderate >= 25, else poor."""
    frame = pl.DataFrame({"s": scores.cast(pl.Float64)})
    percentile = (pl.col("s").rank(method="average") * 100.0 / frame.height).round(
        0, mode="half_to_even"
    )
    status = (
        pl.when(percentile >= GOOD_PERCENTILE)
        .then(pl.lit("good"))
        .when(percentile >= MODERATE_PERCENTILE)
        .then(pl.lit("moderate"))
        .otherwise(pl.lit("poor"))
    )
    return frame.select(status).to_series().alias(STATUS)


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
    first = _finish(np.ones(k) if start is None else _checked(data, start, "start"))
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
    searches = {"grid": _grid, "genetic": _genetic, "bayesian": _bayesian}
    evaluations = 1 + searches[optimizer](evaluate, first, budget - 1, seed)
    agreement, found = max(best, key=lambda pair: pair[0])  # first of equals: the start
    weights = _as_dict(data, found)
    ranking = tuple(sorted(weights, key=lambda m: -weights[m]))
    summary = (
        f"{optimizer.capitalize()} search over {evaluations} weight sets moved the rank "
        f"agreement with {target} from {baseline:.3f} (start) to {agreement:.3f}; "
        f"largest weights: {_top(weights, ranking)}."
    )
    base, info = _as_dict(data, first), tuple(notes)
    return OptimizationResult(
        optimizer, target, weights, agreement, base, baseline, evaluations, seed, summary, info
    )


Objective = Callable[[Array], float]


def _grid(evaluate: Objective, start: Array, budget: int, seed: int) -> int:
    k = start.shape[0]
    steps = 10 if k <= 4 else 5
    # stars and bars: k - 1 bar positions among steps + k - 1 slots give one lattice point
    bars = np.array(list(itertools.combinations(range(steps + k - 1), k - 1)), dtype=np.int64)
    edges = np.hstack([np.full((len(bars), 1), -1), bars.reshape(len(bars), k - 1)])
    edges = np.hstack([edges, np.full((len(bars), 1), steps + k - 1)])
    points = (np.diff(edges, axis=1) - 1).astype(np.float64) / steps
    if len(points) > budget:
        vertex = points.max(axis=1) == 1.0
        rng = np.random.default_rng(seed)
        others = np.flatnonzero(~vertex)
        chosen = rng.choice(others, size=max(0, budget - int(vertex.sum())), replace=False)
        points = points[np.sort(np.concatenate([np.flatnonzero(vertex), chosen]))][:budget]
    for point in points:
        evaluate(point)
    return len(points)


def _project(vector: Array) -> Array:
    """Euclidean projection onto the probability simplex (Duchi et al. 2008)."""
    ordered = np.sort(vector)[::-1]
    cumulative = np.cumsum(ordered) - 1.0
    index = np.arange(1, vector.shape[0] + 1)
    rho = int(np.flatnonzero(ordered - cumulative / index > 0)[-1])
    projected: Array = np.maximum(vector - cumulative[rho] / (rho + 1), 0.0)
    return projected


def _genetic(evaluate: Objective, start: Array, budget: int, seed: int) -> int:
    """Tournament selection (3), blend crossover (BLX-0.25), Gaussian mutation, projection
    onto the simplex and elitism (2) over a population of up to 20."""
    rng = np.random.default_rng(seed)
    k = start.shape[0]
    size = min(_POPULATION, budget)
    population = [start, *rng.dirichlet(np.ones(k), size - 1)] if size > 1 else [start]
    fitness = [evaluate(p) for p in population]
    used = size - 1  # the start was already counted by the caller
    while used < budget:
        order = np.argsort(fitness)[::-1]
        nxt = [population[i] for i in order[:2]]
        nxt_fit = [fitness[i] for i in order[:2]]
        while len(nxt) < size and used < budget:
            parents = []
            for _ in range(2):
                entrants = rng.choice(len(population), size=min(3, len(population)))
                parents.append(population[max(entrants, key=lambda i: fitness[i])])
            blend = rng.uniform(-0.25, 1.25, k)
            child = parents[0] + blend * (parents[1] - parents[0])
            child = child + rng.normal(0.0, 0.05, k) * (rng.random(k) < max(0.3, 1.0 / k))
            child = _project(child)
            nxt.append(child)
            nxt_fit.append(evaluate(child))
            used += 1
        population, fitness = nxt, nxt_fit
    return used


def _bayesian(evaluate: Objective, start: Array, budget: int, seed: int) -> int:
    """bayes_opt's GP-UCB over [0, 1]^k (``evaluate`` normalizes onto the simplex). The
    defaults cost ~0.5 s a step at 200 points, so the acquisition is maximized over random
    candidates only and the GP kernel is tuned (one start) every 10th step."""
    import warnings

    from bayes_opt import BayesianOptimization, acquisition

    class _Ucb(acquisition.UpperConfidenceBound):  # type: ignore[misc]
        def suggest(self, gp: Any, target_space: Any, **kwargs: Any) -> Any:
            gp.optimizer = "fmin_l_bfgs_b" if self.i % _RETUNE_EVERY == 0 else None
            kwargs.update(gp=gp, target_space=target_space, n_random=_N_RANDOM, n_smart=0)
            point = super().suggest(**kwargs)
            gp.kernel = gp.kernel_  # the next fits start from (or keep) the tuned kernel
            return point

    k = start.shape[0]
    names = [f"w{i:03d}" for i in range(k)]  # zero-padded: sorted order == metric order
    calls = 0

    def objective(**params: float) -> float:
        nonlocal calls
        calls += 1
        return evaluate(np.array([params[n] for n in names], dtype=np.float64))

    search = BayesianOptimization(
        f=objective,
        pbounds=dict.fromkeys(names, (0.0, 1.0)),
        acquisition_function=_Ucb(kappa=2.576),
        random_state=seed,
        verbose=0,
        allow_duplicate_points=True,
    )
    search.set_gp_params(n_restarts_optimizer=0)
    init_points = max(1, min(10, budget // 4))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        search.probe(params=dict(zip(names, start.tolist(), strict=True)), lazy=True)
        search.maximize(init_points=init_points, n_iter=max(0, budget - init_points))
    return calls - 1  # the re-probed start was already counted by the caller


def _moved(weights: Array, index: int, delta: float) -> Array:
    """``weights`` with weight ``index`` moved by ``delta`` (clipped to [0, 1]) and the
    others rescaled proportionally (spread equally if they are all 0) to keep the sum 1."""
    moved = weights.copy()
    moved[index] = min(1.0, max(0.0, weights[index] + delta))
    rest = np.arange(weights.shape[0]) != index
    if not rest.any():
        return np.ones(1)
    others = weights[rest].sum()
    left = 1.0 - moved[index]
    moved[rest] = weights[rest] * (left / others) if others > 0 else left / int(rest.sum())
    return moved


def sensitivity(
    data: ScoredFrame, weights: Mapping[str, float] | None = None, delta: float = 0.10
) -> tuple[SensitivityRow, ...]:
    """For each metric: how many labels (and how far scores, on average) change when its
    weight moves by +delta and -delta absolute, the others rescaled to keep the sum 1.
    Labels are compared with those under ``weights`` (default: the setup's weights)."""
    if not 0 <= delta <= 1:
        raise InvalidParameterError(f"delta must be in [0, 1], got {delta!r}", field="delta")
    data.require_rows()
    chosen = dict(data.weights) if weights is None else weights
    vector = _checked(data, chosen, "weights")
    vector = vector / vector.sum()
    base_scores = weighted_score(data, _as_dict(data, vector))
    base_labels = relabel(base_scores)
    rows: list[SensitivityRow] = []
    for index, metric in enumerate(data.metrics):
        changed: list[int] = []
        shifts: list[float] = []
        for step in (float(delta), -float(delta)):
            scores = weighted_score(data, _as_dict(data, _moved(vector, index, step)))
            changed.append(int((relabel(scores) != base_labels).sum()))
            shift = (scores - base_scores).abs().mean()
            shifts.append(round(float(shift), 4) if isinstance(shift, int | float) else 0.0)
        weight = round(float(vector[index]), 4)
        rows.append(SensitivityRow(metric, weight, changed[0], changed[1], *shifts))
    return tuple(rows)
