"""What other weights would do to a scored campaign before it is scored again: each
row's score and status under them (``weighted_score`` and ``relabel``, the engine's own
rules), the rows whose status changes, the entries each list would add and remove, and
the impression-weighted campaign score before and after.

Normalization does not depend on the weights, so for a run's own file these are the
figures its next run with the weights gives. The lists compared are the classic ones
(``build_lists`` at the setup's floor and quantiles): a run scored with confidence
decides its lists on shrunk scores and intervals the next run fits again, which a
re-weighting of the stored rows cannot reproduce, so its preview says so in ``note``."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from caliber.engine.analytics.base import ScoredFrame
from caliber.engine.analytics.sensitivity import relabel, weighted_score
from caliber.engine.analytics.weights import checked_weights
from caliber.engine.lists import build_lists
from caliber.engine.score import SCORE, STATUS

_RANK = {"poor": 0, "moderate": 1, "good": 2}
AFTER = "score_after"
STATUS_AFTER = "status_after"
CONFIDENT_NOTE = (
    "This run lists with confidence: the lists compared here are the classic ones under "
    "both weights; the confident lists are decided when the campaign is scored again."
)


@dataclass(frozen=True)
class ListRule:
    """The setup's list rule: eligibility floor and the two quantiles."""

    min_impressions: float
    whitelist_quantile: float
    blacklist_quantile: float


def _campaign_score(frame: pl.DataFrame, column: str) -> float | None:
    """Σ score x impressions / Σ impressions, as the summary's campaign_level_score."""
    value = frame.select(
        (pl.col(column) * pl.col("impressions")).sum() / pl.col("impressions").sum()
    ).item()
    return round(float(value), 2) if value is not None and math.isfinite(float(value)) else None


def _same(data: ScoredFrame, weights: Mapping[str, float]) -> bool:
    vector = checked_weights(data, weights, "weights")
    current = np.array([data.weights[m] for m in data.metrics], dtype=np.float64)
    return bool(np.allclose(vector / vector.sum(), current / current.sum(), rtol=0, atol=1e-12))


def _entries(frame: pl.DataFrame, dimension: str, names: list[str], limit: int) -> dict[str, Any]:
    chosen = frame.filter(pl.col(dimension).is_in(names[:limit]))
    by_name = {row[dimension]: row for row in chosen.iter_rows(named=True)}
    items = [
        {
            "domain": name,
            "score_before": by_name[name][SCORE],
            "score_after": by_name[name][AFTER],
            "impressions": by_name[name]["impressions"],
        }
        for name in names[:limit]
    ]
    return {"count": len(names), "items": items}


def _list_changes(
    frame: pl.DataFrame, dimension: str, rule: ListRule, limit: int
) -> dict[str, Any]:
    args = (rule.min_impressions, rule.whitelist_quantile, rule.blacklist_quantile)
    before = build_lists(frame, dimension, *args)
    after = build_lists(frame.with_columns(pl.col(AFTER).alias(SCORE)), dimension, *args)
    answer: dict[str, Any] = {}
    for name, old, new in (
        ("whitelist", before.whitelist, after.whitelist),
        ("blacklist", before.blacklist, after.blacklist),
    ):
        old_names = old.get_column(dimension).to_list()
        new_names = new.get_column(dimension).to_list()
        kept = set(old_names) & set(new_names)
        answer[name] = {
            "before": len(old_names),
            "after": len(new_names),
            "added": _entries(frame, dimension, [n for n in new_names if n not in kept], limit),
            "removed": _entries(frame, dimension, [n for n in old_names if n not in kept], limit),
        }
    return answer


def weight_preview(
    data: ScoredFrame,
    weights: Mapping[str, float],
    rule: ListRule,
    *,
    confident: bool = False,
    limit: int = 50,
) -> dict[str, Any]:
    """The campaign under ``weights`` against the stored scoring: ``campaign_score``
    {before, after, change}, ``status_changes`` {count, up, down, items: the ``limit``
    largest score changes among the rows whose status changes}, ``lists`` (per list:
    sizes before and after, ``added`` and ``removed`` {count, items}), ``rule``."""
    data.require_rows()
    frame = data.frame
    after = frame.get_column(SCORE) if _same(data, weights) else weighted_score(data, weights)
    frame = frame.with_columns(after.alias(AFTER), relabel(after).alias(STATUS_AFTER)).with_columns(
        (pl.col(AFTER) - pl.col(SCORE)).round(2).alias("change")
    )
    if _same(data, weights):  # the stored labels, not a recomputation's rounding
        frame = frame.with_columns(pl.col(STATUS).alias(STATUS_AFTER))
    dim = data.dimension
    changed = frame.filter(pl.col(STATUS) != pl.col(STATUS_AFTER))
    rank_before = changed.get_column(STATUS).replace_strict(_RANK, return_dtype=pl.Int8)
    rank_after = changed.get_column(STATUS_AFTER).replace_strict(_RANK, return_dtype=pl.Int8)
    largest = changed.with_columns(pl.col("change").abs().alias("size")).sort(
        ["size", dim], descending=[True, False]
    )
    items = [
        {
            "domain": row[dim],
            "score_before": row[SCORE],
            "score_after": row[AFTER],
            "change": row["change"],
            "status_before": row[STATUS],
            "status_after": row[STATUS_AFTER],
            "impressions": row["impressions"],
        }
        for row in largest.head(limit).iter_rows(named=True)
    ]
    before_score = _campaign_score(frame, SCORE)
    after_score = _campaign_score(frame, AFTER)
    return {
        "campaign_score": {
            "before": before_score,
            "after": after_score,
            "change": (
                None
                if before_score is None or after_score is None
                else round(after_score - before_score, 2)
            ),
        },
        "status_changes": {
            "count": changed.height,
            "up": int((rank_after > rank_before).sum()),
            "down": int((rank_after < rank_before).sum()),
            "items": items,
        },
        "lists": _list_changes(frame, dim, rule, limit),
        "rule": "classic",
        "note": CONFIDENT_NOTE if confident else None,
        "limit": limit,
    }
