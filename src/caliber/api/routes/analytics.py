"""Routes: explanations, outliers and weights of a completed campaign (under /scoring).

Owner-checked like the results (another user's campaign: 404; not completed: 409); a
bad method or parameter, or too few rows for the analysis, is a 422 naming it.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from caliber.api.deps import CurrentMember, SessionDep
from caliber.api.heavy import HeavyRequest
from caliber.campaigns.schemas import Weights
from caliber.core.envelope import Envelope, ok
from caliber.scoring import analytics

router = APIRouter()
Data = Envelope[dict[str, Any]]

ExplainMethod = Literal["exact", "shap", "feature_importance", "correlation"]
RowMethod = Literal["exact", "shap"]
OutlierMethod = Literal[
    "isolation_forest", "local_outlier_factor", "elliptic_envelope", "zscore", "iqr", "combined"
]
WeightMethod = Literal["equal", "correlation", "mutual_info", "f_score", "variance", "custom"]
Optimizer = Literal["grid", "genetic", "bayesian"]
Seed = Annotated[int, Query(ge=0, le=2**31 - 1)]


class WeightsRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    campaign_id: uuid.UUID
    method: WeightMethod = "correlation"
    target: str | None = Field(default=None, min_length=1, max_length=64)
    optimize: Optimizer | None = None
    custom_weights: Weights | None = None
    seed: int = Field(default=0, ge=0, le=2**31 - 1)


class SensitivityRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    campaign_id: uuid.UUID
    delta: float = Field(default=0.10, gt=0, le=0.5, allow_inf_nan=False)
    weights: Weights | None = None  # default: the weights the campaign was scored with


@router.get("/explain/{campaign_id}", response_model=Data, dependencies=[HeavyRequest])
def explain(
    campaign_id: uuid.UUID,
    member: CurrentMember,
    session: SessionDep,
    method: ExplainMethod = "exact",
    seed: Seed = 0,
) -> Any:
    """Which metrics drive the campaign's scores."""
    return ok(analytics.explain(session, member.organization_id, campaign_id, method, seed))


@router.get("/explain/{campaign_id}/domain", response_model=Data, dependencies=[HeavyRequest])
def explain_domain(
    campaign_id: uuid.UUID,
    member: CurrentMember,
    session: SessionDep,
    name: Annotated[str, Query(min_length=1, max_length=512)],
    method: RowMethod = "exact",
    seed: Seed = 0,
) -> Any:
    """Why one domain (or supply vendor) scored what it did: the metrics that pulled it
    up and down against the campaign average (``exact`` attributions sum to its score
    minus the campaign's mean score)."""
    return ok(
        analytics.explain_domain(session, member.organization_id, campaign_id, name, method, seed)
    )


@router.get("/compare", response_model=Data, dependencies=[HeavyRequest])
def compare(before: uuid.UUID, after: uuid.UUID, member: CurrentMember, session: SessionDep) -> Any:
    """What changed between two scorings of the same setup (two campaigns or uploads)."""
    return ok(analytics.compare(session, member.organization_id, before, after))


@router.get("/outliers/{campaign_id}", response_model=Data, dependencies=[HeavyRequest])
def outliers(
    campaign_id: uuid.UUID,
    member: CurrentMember,
    session: SessionDep,
    method: OutlierMethod = "combined",
    contamination: Annotated[float, Query(gt=0, le=0.5, allow_inf_nan=False)] = 0.05,
    columns: Annotated[str | None, Query(max_length=500, description="comma-separated")] = None,
    seed: Seed = 0,
) -> Any:
    chosen = [c.strip() for c in columns.split(",") if c.strip()] if columns else None
    return ok(
        analytics.outliers(
            session, member.organization_id, campaign_id, method, contamination, chosen, seed
        )
    )


@router.post("/weights/suggest", response_model=Data, dependencies=[HeavyRequest])
def suggest_weights(body: WeightsRequest, member: CurrentMember, session: SessionDep) -> Any:
    """Weights from the campaign's own data against a target column (e.g. conversions),
    optionally optimized; save them with PUT /campaigns/{id}/weights."""
    return ok(
        analytics.suggest_weights(
            session,
            member.organization_id,
            body.campaign_id,
            body.method,
            body.target,
            body.optimize,
            body.custom_weights,
            body.seed,
        )
    )


@router.post("/weights/sensitivity", response_model=Data, dependencies=[HeavyRequest])
def sensitivity(body: SensitivityRequest, member: CurrentMember, session: SessionDep) -> Any:
    """How many rows change label when each weight moves by ±delta."""
    return ok(
        analytics.sensitivity(
            session, member.organization_id, body.campaign_id, body.delta, body.weights
        )
    )
