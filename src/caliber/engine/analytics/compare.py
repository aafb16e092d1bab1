"""What changed between two scored exports of a campaign, and which metrics moved its
impression-weighted score. Each export is normalized on its own range; the effects
(changes in each metric's impression-weighted mean contribution) add up to the score
change."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl

from caliber.engine.analytics.base import ScoredFrame
from caliber.engine.analytics.explain import Serializable, join_words, signed
from caliber.engine.analytics.matrices import (
    EPS,
    Array,
    CampaignArrays,
    campaign_arrays,
    matrix,
    row_key,
)
from caliber.engine.errors import InvalidParameterError
from caliber.engine.score import STATUS, STATUSES


@dataclass(frozen=True)
class MetricChange(Serializable):
    metric: str
    before: float | None  # impression-weighted campaign average of the raw metric
    after: float | None
    change: float | None
    normalized_before: float | None
    normalized_after: float | None
    effect_on_score: float | None  # mean contribution after - before (= weight x change)


@dataclass(frozen=True)
class Comparison(Serializable):
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


def _row_weights(frame: pl.DataFrame) -> Array:
    """Impressions (equal weights when the frame has none)."""
    if "impressions" not in frame.columns:
        return np.ones(frame.height)
    imps = np.clip(matrix(frame, ["impressions"])[:, 0], 0.0, None)
    return imps if imps.sum() > 0 else np.ones(frame.height)


def _mean(values: Array, weights: Array) -> Array:
    """Weighted column means."""
    result: Array = weights @ values / weights.sum()
    return result


def _raw_means(camp: CampaignArrays, weights: Array) -> list[float | None]:
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
    cb, ca = campaign_arrays(before), campaign_arrays(after, before.metrics)
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
    keys_b = {row_key(str(v)) for v in before.frame[before.dimension].to_list()}
    keys_a = {row_key(str(v)) for v in after.frame[after.dimension].to_list()}
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
        if total <= EPS or covered >= 0.8 * total - EPS:
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
    along = [signed(m, effects[m]) for m in drivers if effects[m] * change >= 0]
    against = [signed(m, effects[m]) for m in drivers if effects[m] * change < 0]
    if along:
        text += f", driven by {join_words(along)}"
    if against:
        text += f"{',' if along else ''} partly offset by {join_words(against)}"
    text += "."
    if gone or new:
        text += (
            f" {common:,} rows appear in both exports, {gone:,} only before and {new:,} only after."
        )
    return text
