"""Analytics of a completed campaign (owner-checked): explanations, outliers, weights.

The engine does the work (``caliber.engine.analytics``); this module loads the stored
results as the engine's frame once per campaign run, and keeps each analysis it answers
per run and parameters: a run's results never change, and on a 300,000-row campaign an
outlier detection takes seconds to tens of seconds. Both caches are per process and keyed
by the run whose results the campaign holds, so a re-scored campaign is never served the
last run's figures; the
cache makes concurrent askers of the same analysis wait for the first one's answer
instead of computing it again.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import replace
from typing import Any

import orjson
from sqlalchemy.orm import Session

from caliber.core.lru import RunCache
from caliber.engine.analytics.base import ScoredFrame
from caliber.scoring import pages
from caliber.scoring.runs import results_view

_frames: RunCache[ScoredFrame] = RunCache(4)  # frames are large: the 4 latest runs


def _encoded_size(value: dict[str, Any]) -> int:
    try:
        return len(orjson.dumps(value))
    except TypeError:
        return len(json.dumps(value, default=str))


# answers (JSON-ready dicts, never changed once made), weighed by their encoded size
_answers: RunCache[dict[str, Any]] = RunCache(512, weight=_encoded_size, max_weight=64 * 2**20)


def _run_key(session: Session, org_id: uuid.UUID, campaign_id: uuid.UUID) -> Hashable:
    """The campaign's run (404 / 409 first): every key of an answer starts with it."""
    return results_view(session, org_id, campaign_id).run.id


def _answer(key: Hashable, make: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    return _answers.get_or_make(key, make)


def _frozen(mapping: Mapping[str, float] | None) -> tuple[tuple[str, float], ...] | None:
    return None if mapping is None else tuple(sorted(mapping.items()))


def clear_caches() -> None:
    """Forget every frame and answer of this process (tests)."""
    _frames.clear()
    _answers.clear()


def scored_frame(session: Session, org_id: uuid.UUID, campaign_id: uuid.UUID) -> ScoredFrame:
    """The campaign's results as the engine's frame (404 / 409 as the results routes)."""
    view = results_view(session, org_id, campaign_id)

    def load() -> ScoredFrame:
        resolved = view.setup.resolve()
        snapshot = view.run.snapshot or {}
        weights = {k: float(v) for k, v in (snapshot.get("weights") or {}).items()} or {
            m.name: m.weight for m in resolved.metrics
        }
        total = sum(weights.values()) or 1.0
        return ScoredFrame(
            frame=pages.index().run(session, view.run).stored.frame,
            dimension=str(resolved.level),
            weights={k: v / total for k, v in weights.items()},
            higher_is_better={m.name: m.higher_is_better for m in resolved.metrics},
        )

    return _frames.get_or_make(view.run.id, load)


def explain(
    session: Session, org_id: uuid.UUID, campaign_id: uuid.UUID, method: str, seed: int = 0
) -> dict[str, Any]:
    from caliber.engine.analytics.explain import explain_campaign  # noqa: PLC0415

    def make() -> dict[str, Any]:
        data = scored_frame(session, org_id, campaign_id)
        return explain_campaign(data, method, seed=seed).to_dict()

    key = ("explain", _run_key(session, org_id, campaign_id), method, seed)
    return _answer(key, make)


def explain_domain(
    session: Session,
    org_id: uuid.UUID,
    campaign_id: uuid.UUID,
    name: str,
    method: str,
    seed: int = 0,
) -> dict[str, Any]:
    from caliber.engine.analytics.explain import explain_row  # noqa: PLC0415

    def make() -> dict[str, Any]:
        data = scored_frame(session, org_id, campaign_id)
        return explain_row(data, name, method, seed=seed).to_dict()

    key = ("explain_row", _run_key(session, org_id, campaign_id), name, method, seed)
    return _answer(key, make)


def compare(
    session: Session, org_id: uuid.UUID, before: uuid.UUID, after: uuid.UUID
) -> dict[str, Any]:
    from caliber.engine.analytics.compare import compare as run  # noqa: PLC0415

    def make() -> dict[str, Any]:
        first = scored_frame(session, org_id, before)
        second = scored_frame(session, org_id, after)
        return {"before": str(before), "after": str(after), **run(first, second).to_dict()}

    key = (
        "compare",
        _run_key(session, org_id, before),
        _run_key(session, org_id, after),
    )
    return _answer(key, make)


def outliers(
    session: Session,
    org_id: uuid.UUID,
    campaign_id: uuid.UUID,
    method: str,
    contamination: float,
    columns: Sequence[str] | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    from caliber.engine.analytics.outliers import detect_outliers  # noqa: PLC0415

    chosen = tuple(columns) if columns else None

    def make() -> dict[str, Any]:
        data = scored_frame(session, org_id, campaign_id)
        report = detect_outliers(
            data, method, columns=chosen, contamination=contamination, seed=seed
        )
        return report.to_dict()

    run_key = _run_key(session, org_id, campaign_id)
    return _answer(("outliers", run_key, method, contamination, chosen, seed), make)


def suggest_weights(
    session: Session,
    org_id: uuid.UUID,
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

    if optimizer is not None and target is None:
        from caliber.engine.errors import InvalidParameterError  # noqa: PLC0415

        raise InvalidParameterError("optimizing weights needs a target column", field="target")

    def make() -> dict[str, Any]:
        data = scored_frame(session, org_id, campaign_id)
        found = calculate_weights(data, method, target, custom, seed=seed)
        answer: dict[str, Any] = {"suggested": found.to_dict(), "current": data.weights}
        if optimizer is not None and target is not None:
            answer["optimized"] = optimize_weights(
                data, target, optimizer, seed=seed, start=found.weights
            ).to_dict()
        return answer

    run_key = _run_key(session, org_id, campaign_id)
    key = ("weights", run_key, method, target, optimizer, _frozen(custom), seed)
    return _answer(key, make)


def sensitivity(
    session: Session,
    org_id: uuid.UUID,
    campaign_id: uuid.UUID,
    delta: float,
    weights: Mapping[str, float] | None = None,
) -> dict[str, Any]:
    from caliber.engine.analytics.preview import ListRule, weight_preview  # noqa: PLC0415
    from caliber.engine.analytics.sensitivity import sensitivity as run  # noqa: PLC0415

    setup = results_view(session, org_id, campaign_id).setup

    def make() -> dict[str, Any]:
        data = scored_frame(session, org_id, campaign_id)
        rows = run(data, weights, delta)
        defaults = replace(setup, weights=None).resolve().weights
        total = sum(defaults.values()) or 1.0
        rule = ListRule(setup.min_impressions, setup.whitelist_quantile, setup.blacklist_quantile)
        chosen = dict(weights or data.weights)
        return {
            "delta": delta,
            "rows": data.frame.height,
            "weights": chosen,
            # the setup's own weights, so a client can offer them without knowing the setup
            "defaults": {m: round(w / total, 6) for m, w in defaults.items()},
            # what saving ``weights`` would do, before the campaign is scored again
            "preview": weight_preview(
                data, chosen, rule, confident=setup.list_confidence is not None
            ),
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

    key = ("sensitivity", _run_key(session, org_id, campaign_id), delta, _frozen(weights))
    return _answer(key, make)
