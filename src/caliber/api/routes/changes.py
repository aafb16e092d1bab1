"""Routes: what changed between two runs of a campaign, its list changes for a DSP, and
one domain's history across runs (issue 18 §2; under /scoring; docs/service.md "What
changed").

Owner-checked like every read of results: another user's campaign, or a run that is not
a run of this campaign, is a 404; a run without results, or a campaign with fewer than
two completed runs, a 409 saying so; a bad id or parameter a 422 naming it.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from fastapi.responses import Response

from caliber.api.deps import CurrentMember, SessionDep
from caliber.api.heavy import HeavyRequest
from caliber.core.envelope import Envelope, ok
from caliber.db.base import utcnow
from caliber.engine.diff import DEFAULT_LIMIT, MAX_LIMIT
from caliber.reports import list_changes
from caliber.reports.formats import export_filename
from caliber.scoring import diff as scoring_diff
from caliber.scoring import history as scoring_history
from caliber.scoring.frames import MAX_NAME_LENGTH

router = APIRouter()
Data = Envelope[dict[str, Any]]

Base = Annotated[
    uuid.UUID | None,
    Query(description="the earlier run; default: the completed run before head"),
]
Head = Annotated[
    uuid.UUID | None,
    Query(description="the later run; default: the campaign's latest completed run"),
]
Limit = Annotated[
    int,
    Query(ge=1, le=MAX_LIMIT, description="how many movers, new and vanished names to list"),
]
ChangeFormat = Literal["ttd", "dv360", "text"]


@router.get("/diff/{campaign_id}", response_model=Data, dependencies=[HeavyRequest])
def run_diff(
    campaign_id: uuid.UUID,
    member: CurrentMember,
    session: SessionDep,
    base: Base = None,
    head: Head = None,
    limit: Limit = DEFAULT_LIMIT,
) -> Any:
    """The lists' entries added, removed and kept, new and vanished names, the largest
    score and status movers, and the change of the campaign score and key metrics."""
    return ok(
        scoring_diff.run_diff(session, member.organization_id, campaign_id, base, head, limit)
    )


@router.get("/diff/{campaign_id}/export", response_class=Response, dependencies=[HeavyRequest])
def run_diff_export(
    campaign_id: uuid.UUID,
    member: CurrentMember,
    session: SessionDep,
    format: Annotated[
        ChangeFormat, Query(description="ttd (bid lines), dv360 (sites:bulkEdit) or text")
    ],
    base: Base = None,
    head: Head = None,
) -> Response:
    """The list changes (entries to add and to remove for each list) as a download."""
    pair = scoring_diff.run_pair(session, member.organization_id, campaign_id, base, head)
    body = list_changes.render(scoring_diff.changes_of(session, pair), format)
    name = export_filename(
        pair.campaign.name, f"list-changes-{format}", list_changes.EXTENSIONS[format], utcnow()
    )
    media = list_changes.MEDIA_TYPES[format]
    return Response(
        body,
        media_type=f"{media}; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


# {domain:path}: a name may hold a slash (an app or site section: "news.example/sports")
@router.get(
    "/history/{campaign_id}/{domain:path}", response_model=Data, dependencies=[HeavyRequest]
)
def domain_history(
    campaign_id: uuid.UUID,
    domain: Annotated[str, Path(min_length=1, max_length=MAX_NAME_LENGTH)],
    member: CurrentMember,
    session: SessionDep,
) -> Any:
    """One domain's score, status, volume and list in each completed run, oldest first."""
    return ok(scoring_history.domain_history(session, member.organization_id, campaign_id, domain))
