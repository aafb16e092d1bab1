"""Analytics of a completed campaign (owner-checked): explanations, outliers, weights.

The engine does the work (``caliber.engine.analytics``); this module loads the stored
results as the engine's frame once per campaign run (a small per-process cache keyed by
the run's completion time, so a re-scored campaign is never served stale figures).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy.orm import Session

from caliber.core.lru import RunCache
from caliber.engine.analytics.base import ScoredFrame
from caliber.scoring import results as scoring_results
from caliber.scoring import service as scoring_service

_frames: RunCache[ScoredFrame] = RunCache(4)  # frames are large: the 4 latest runs


def scored_frame(session: Session, owner_id: uuid.UUID, campaign_id: uuid.UUID) -> ScoredFrame:
    """The campaign's results as the engine's frame (404 / 409 as the results routes)."""
    campaign = scoring_service.completed_campaign(session, owner_id, campaign_id)

    def load() -> ScoredFrame:
        resolved = scoring_service.campaign_setup(campaign).resolve()
        snapshot = campaign.config_snapshot or {}
        weights = {k: float(v) for k, v in (snapshot.get("weights") or {}).items()} or {
            m.name: m.weight for m in resolved.metrics
        }
        total = sum(weights.values()) or 1.0
        return ScoredFrame(
            frame=scoring_results.results_frame(session, owner_id, campaign_id),
            dimension=str(resolved.level),
            weights={k: v / total for k, v in weights.items()},
            higher_is_better={m.name: m.higher_is_better for m in resolved.metrics},
        )

    return _frames.get_or_make((campaign.id, campaign.completed_at), load)


def explain(
    session: Session, owner_id: uuid.UUID, campaign_id: uuid.UUID, method: str, seed: int = 0
) -> dict[str, Any]:
    from caliber.engine.analytics.explain import explain_campaign  # noqa: PLC0415

    return explain_campaign(
        scored_frame(session, owner_id, campaign_id), method, seed=seed
    ).to_dict()


def explain_domain(
    session: Session,
    owner_id: uuid.UUID,
    campaign_id: uuid.UUID,
    name: str,
    method: str,
    seed: int = 0,
) -> dict[str, Any]:
    from caliber.engine.analytics.explain import explain_row  # noqa: PLC0415

    data = scored_frame(session, owner_id, campaign_id)
    return explain_row(data, name, method, seed=seed).to_dict()


def compare(
    session: Session, owner_id: uuid.UUID, before: uuid.UUID, after: uuid.UUID
) -> dict[str, Any]:
    from caliber.engine.analytics.explain import compare as run  # noqa: PLC0415

    first = scored_frame(session, owner_id, before)
    second = scored_frame(session, owner_id, after)
    return {"before": str(before), "after": str(after), **run(first, second).to_dict()}


def outliers(
    session: Session,
    owner_id: uuid.UUID,
    campaign_id: uuid.UUID,
    method: str,
    contamination: float,
    columns: Sequence[str] | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    from caliber.engine.analytics.outliers import detect_outliers  # noqa: PLC0415

    data = scored_frame(session, owner_id, campaign_id)
    report = detect_outliers(
        data, method, columns=columns or None, contamination=contamination, seed=seed
    )
    return report.to_dict()


def suggest_weights(
    session: Session,
    owner_id: uuid.UUID,
    campaign_id: uuid.UUID,
    method: str,
    target: str | None,
    optimizer: str | None = None,
    custom: Mapping[str, float] | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    from caliber.engine.analytics.weights import (  # noqa: PLC0415
        calculate_weights,
        optimize_weights,
    )

    data = scored_frame(session, owner_id, campaign_id)
    found = calculate_weights(data, method, target, custom, seed=seed)
    answer: dict[str, Any] = {"suggested": found.to_dict(), "current": data.weights}
    if optimizer is not None:
        if target is None:
            from caliber.engine.errors import InvalidParameterError  # noqa: PLC0415

            raise InvalidParameterError("optimizing weights needs a target column", field="target")
        answer["optimized"] = optimize_weights(
            data, target, optimizer, seed=seed, start=found.weights
        ).to_dict()
    return answer


def sensitivity(
    session: Session,
    owner_id: uuid.UUID,
    campaign_id: uuid.UUID,
    delta: float,
    weights: Mapping[str, float] | None = None,
) -> dict[str, Any]:
    from caliber.engine.analytics.weights import sensitivity as run  # noqa: PLC0415

    data = scored_frame(session, owner_id, campaign_id)
    rows = run(data, weights, delta)
    return {
        "delta": delta,
        "rows": data.frame.height,
        "weights": dict(weights or data.weights),
        "metrics": [
            {
                "metric": r.metric,
                "weight": r.weight,
                "labels_changed_up": r.labels_changed_up,
                "labels_changed_down": r.labels_changed_down,
                "score_shift_mean_abs_up": r.score_shift_mean_abs_up,
                "score_shift_mean_abs_down": r.score_shift_mean_abs_down,
            }
            for r in rows
        ],
    }
