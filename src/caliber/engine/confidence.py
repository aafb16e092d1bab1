"""Confidence (issue 17): how sure the data is of each row's score.

An engine step after aggregation and the classic score, pure and deterministic; the
classic columns are left as they are. For each rate metric of the setup, with x_i
successes out of n_i trials in row i (:func:`successes_and_trials`):

- prior Beta(a, b) fitted on the eligible rows by the impression-weighted method of
  moments: μ = Σx/Σn, τ² = [Σ n(p − μ)² − (k − 1)μ(1 − μ)] / [Σn − Σn²/Σn] with
  p = x/n over the k rows with trials, a + b = μ(1 − μ)/τ² − 1, a = μ(a + b); no spread
  (τ² <= 0): every row gets μ;
- posterior Beta(a + x_i, b + n_i − x_i), whose mean is ``shrunk_<metric>``.

The shrunk score is the contract's score of the shrunk rates: the same weights, and
min-max bounds (lo, hi) fitted as the contract fits them, on the shrunk rates of the
eligible rows (bounds fitted on the raw rates hold the noisiest rows' extremes: they
shrink a rare event's weight in the score, and lists that rank by them miss the truly
best rows: ``docs/engine.md``). It is linear in each metric between the bounds, so
with c = w/Σw and slope k = ±100c/(hi − lo), its posterior variance and third
cumulant are Σ k²·var and Σ k³·μ₃ over the (independent) posteriors; a rate is not
clipped at the bounds there, which only widens the interval of a row whose posterior
reaches past them. At level L, ``score_low`` is the (1 − L) quantile and ``score_high``
the L quantile of a gamma shifted to those three moments (:func:`skewed_quantiles`),
clipped to [0, 100]: the score is at least ``score_low`` with probability L, and at most
``score_high`` with probability L (one-sided bounds, each read alone by the list rule:
"at least 80 % sure it belongs on the whitelist"; together a central interval of
2L − 1). Measured against sampling, a few hundredths of a point off on realistic
campaigns (``docs/engine.md``). Money metrics and the unique-ID ratio are not shrunk: their
contribution is the classic one, without uncertainty.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from statistics import NormalDist
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from caliber.engine.config import MetricSpec
from caliber.engine.headers import MetricSource
from caliber.engine.normalize import NEUTRAL, NormalizationStat

Floats = npt.NDArray[np.float64]

# Shares of trials, each trial a success or not. CPM/eCPM are money; unique IDs per
# impression is a frequency (one viewer, many impressions), not a chance per impression.
SHRUNK_METRICS = frozenset(
    {
        "ctr",
        "conversion_rate",
        "ias_display_fully_in_view_1s_rate",
        "ad_load_xl_rate",
        "ad_refresh_below_15s_rate",
        "tv_quality_index_rate",
        "sampled_in_view_rate",
        "player_completion_rate",
        "completion_rate",
        "player_errors_rate",
        "player_mute_rate",
    }
)
# The floor of a + b: rows that differ as much as shares can (τ² >= μ(1 − μ)) get a
# prior worth next to no trial, and each keeps its own rate
_MIN_STRENGTH = 1e-9


def shrunk_column(metric: str) -> str:
    return f"shrunk_{metric}"


@dataclass(frozen=True)
class BetaPrior:
    """The beta prior of one rate metric, fitted across the campaign's eligible rows."""

    metric: str
    mean: float  # μ = Σx/Σn
    strength: float | None  # a + b, in trials; None: no spread, every row gets μ
    rows: int  # the eligible rows with trials (k)
    trials: str  # what a trial is: the input counted ("impressions", "player_starts", ...)

    def to_dict(self) -> dict[str, Any]:
        return {
            "mean": self.mean,
            "strength": self.strength,
            "rows": self.rows,
            "trials": self.trials,
        }


def successes_and_trials(frame: pl.DataFrame, source: MetricSource) -> tuple[Floats, Floats, str]:
    """x and n of each row for a metric, and what a trial is: a metric from counts has
    its numerator out of its denominator; one that only comes as a rate, the rate ×
    impressions out of the impressions. A row without the metric has no trials, and x
    is kept within [0, n]."""
    if source.kind == "counts":
        numerator, denominator = source.columns
        x = _floats(frame, numerator)
        n = _floats(frame, denominator)
        trials = denominator
    else:
        n = _floats(frame, "impressions")
        x = _floats(frame, source.metric) * n
        trials = "impressions"
    usable = np.isfinite(x) & np.isfinite(n) & (n > 0)
    n = np.where(usable, n, 0.0)
    x = np.where(usable, np.clip(x, 0.0, n), 0.0)
    return x, n, trials


def fit_prior(metric: str, x: Floats, n: Floats, trials: str) -> BetaPrior | None:
    """The method-of-moments beta prior of ``x`` out of ``n`` (module docstring); None
    when no row has trials."""
    use = n > 0
    k = int(use.sum())
    if k == 0:
        return None
    x, n = x[use], n[use]
    total = math.fsum(n)
    mu = math.fsum(x) / total
    if k < 2 or not 0.0 < mu < 1.0:
        return BetaPrior(metric, mu, None, k, trials)
    spread = math.fsum(n * (x / n - mu) ** 2) - (k - 1) * mu * (1.0 - mu)
    span = total - math.fsum(n * n) / total
    if not (spread > 0 and span > 0):
        return BetaPrior(metric, mu, None, k, trials)
    tau2 = spread / span
    strength = max(mu * (1.0 - mu) / tau2 - 1.0, _MIN_STRENGTH)
    return BetaPrior(metric, mu, strength, k, trials)


@dataclass(frozen=True)
class _Part:
    """One shrunk metric's share of the score's uncertainty, per row."""

    slope: Floats  # score points per unit of the rate; 0 where the mean is clipped
    mean: Floats  # the posterior mean
    prior: float  # a + b
    trials: Floats  # n_i


@dataclass(frozen=True)
class ScoreModel:
    """Each row's posterior score: its centre (the score of the shrunk rates) and the
    shrunk metrics' posteriors, whose trials :meth:`interval` can scale."""

    center: Floats
    parts: tuple[_Part, ...]

    def take(self, rows: npt.NDArray[np.bool_]) -> ScoreModel:
        """The model of the ``rows`` only."""
        parts = tuple(
            _Part(p.slope[rows], p.mean[rows], p.prior, p.trials[rows]) for p in self.parts
        )
        return ScoreModel(self.center[rows], parts)

    def cumulants(self, growth: Floats | float = 1.0) -> tuple[Floats, Floats]:
        """Variance and third cumulant of each row's score, with every metric's trials
        multiplied by ``growth`` and its posterior mean kept: for a Beta of mean m and
        a + b = s, var = m(1 − m)/(s + 1) and μ₃ = 2m(1 − m)(1 − 2m)/((s + 1)(s + 2))."""
        var = np.zeros_like(self.center)
        third = np.zeros_like(self.center)
        for part in self.parts:
            s = part.prior + part.trials * growth
            q = part.mean * (1.0 - part.mean)
            var += part.slope**2 * q / (s + 1.0)
            third += part.slope**3 * 2.0 * q * (1.0 - 2.0 * part.mean) / ((s + 1.0) * (s + 2.0))
        return var, third

    def interval(self, level: float, growth: Floats | float = 1.0) -> tuple[Floats, Floats]:
        """Each row's one-sided bounds at ``level``: the (1 − level) and the ``level``
        quantiles of its score (module docstring)."""
        return skewed_quantiles(self.center, *self.cumulants(growth), level)


def skewed_quantiles(
    center: Floats, var: Floats, third: Floats, level: float
) -> tuple[Floats, Floats]:
    """The (1 − level) and ``level`` quantiles of a distribution of mean ``center``,
    variance ``var`` and third cumulant ``third``, as a gamma shifted to match all three
    (skewness γ = third/sd³, shape 4/γ², reflected when γ < 0), by Wilson-Hilferty:
    with z = ∓Φ⁻¹(level), q = centre + sign(γ)·(2sd/|γ|)·((1 − γ²/36 +
    sign(γ)·z|γ|/6)³ − 1); the normal quantile when γ → 0. Clipped to [0, 100]."""
    z = NormalDist().inv_cdf(level)
    sd = np.sqrt(var)
    with np.errstate(divide="ignore", invalid="ignore"):
        gamma = np.where(sd > 0, third / sd**3, 0.0)
    sign = np.where(gamma < 0, -1.0, 1.0)
    # |γ| of 1e-12 is a normal to the last digit; expm1/log1p keep (1 + d)³ − 1 exact
    skew = np.maximum(np.abs(gamma), 1e-12)

    def quantile(zp: float) -> Floats:
        d = np.maximum(sign * zp * skew / 6.0 - skew * skew / 36.0, -1.0)
        return center + sign * (2.0 * sd / skew) * np.expm1(3.0 * np.log1p(d))

    low = np.clip(quantile(-z), 0.0, 100.0)
    high = np.clip(quantile(z), 0.0, 100.0)
    return low, high


def normalized(values: Floats, stat: NormalizationStat) -> Floats:
    """The contract's normalization (``normalize.normalized_expr``) in numpy."""
    if stat.lo is None or stat.hi is None:
        return np.zeros_like(values)
    if stat.hi > stat.lo:
        span = stat.hi - stat.lo
        raw = (values - stat.lo) if stat.higher_is_better else (stat.hi - values)
        scaled = np.clip(raw / span * 100.0, 0.0, 100.0)
    else:
        scaled = np.full_like(values, NEUTRAL)
    return np.where(np.isfinite(values), scaled, 0.0)


@dataclass(frozen=True)
class Fit:
    """What :func:`fit_model` learnt: each row's score model, the priors, the shrunk rates
    and the normalization the shrunk score uses."""

    model: ScoreModel
    priors: dict[str, BetaPrior]
    shrunk: dict[str, Floats]  # metric -> each row's posterior mean
    stats: dict[str, NormalizationStat]


def fit_model(
    frame: pl.DataFrame,
    metrics: Sequence[MetricSpec],
    stats: Mapping[str, NormalizationStat],
    sources: Mapping[str, MetricSource],
    eligible: npt.NDArray[np.bool_],
) -> Fit:
    """Fit each rate metric's prior on the ``eligible`` rows of ``frame`` (the classic
    scored frame: counts, metrics and ``<metric>_normalized``), shrink every row, fit
    the contract's min-max bounds on the shrunk rates of the eligible rows (the other
    metrics keep ``stats``), and build each row's score model."""
    priors: dict[str, BetaPrior] = {}
    shrunk: dict[str, Floats] = {}
    trials: dict[str, tuple[Floats, float]] = {}  # metric -> (n, a + b), spread priors
    for metric in metrics:
        if metric.name not in SHRUNK_METRICS:
            continue
        x, n, what = successes_and_trials(frame, sources[metric.name])
        prior = fit_prior(metric.name, x[eligible], n[eligible], what)
        if prior is None:  # no row has trials: the classic contribution
            continue
        priors[metric.name] = prior
        if prior.strength is None:  # no spread between rows: every row gets μ
            shrunk[metric.name] = np.full(frame.height, prior.mean)
        else:
            shrunk[metric.name] = (prior.mean * prior.strength + x) / (prior.strength + n)
            trials[metric.name] = (n, prior.strength)
    fitted = {name: _refit(stat, shrunk.get(name), eligible) for name, stat in stats.items()}
    weight_sum = sum(m.weight for m in metrics)
    center = np.zeros(frame.height)
    parts: list[_Part] = []
    for metric in metrics:
        share = metric.weight / weight_sum
        stat = fitted[metric.name]
        mean = shrunk.get(metric.name)
        if mean is None:
            center += share * _floats(frame, f"{metric.name}_normalized")
            continue
        center += share * normalized(mean, stat)
        if metric.name in trials:
            n, strength = trials[metric.name]
            parts.append(_Part(_slope(mean, stat, share), mean, strength, n))
    return Fit(ScoreModel(center, tuple(parts)), priors, shrunk, fitted)


def _refit(
    stat: NormalizationStat, values: Floats | None, eligible: npt.NDArray[np.bool_]
) -> NormalizationStat:
    """``stat`` with lo, hi = the min and max of the shrunk ``values`` of the eligible
    rows (the contract's bounds, on the rates the score now reads)."""
    if values is None:
        return stat
    kept = values[eligible & np.isfinite(values)]
    if kept.size == 0:
        return stat
    return replace(stat, lo=float(kept.min()), hi=float(kept.max()), count=int(kept.size))


def _slope(mean: Floats, stat: NormalizationStat, share: float) -> Floats:
    """d score / d rate: ±100·c/(hi − lo) inside the bounds, 0 where the normalization
    clips (or the metric is constant)."""
    if stat.lo is None or stat.hi is None or not stat.hi > stat.lo:
        return np.zeros_like(mean)
    slope = 100.0 * share / (stat.hi - stat.lo)
    inside = (mean >= stat.lo) & (mean <= stat.hi)
    return np.where(inside, slope if stat.higher_is_better else -slope, 0.0)


def _floats(frame: pl.DataFrame, column: str) -> Floats:
    """A column as float64, missing values as NaN."""
    values: Floats = frame.get_column(column).cast(pl.Float64).fill_null(np.nan).to_numpy()
    return values
