"""A campaign's completed runs in order, and one domain's score, status, volume and list
across them (``GET /scoring/history/{campaign_id}/{domain}``). Never commits.

Each run's row comes from its frame held by the page index and its list from
:func:`caliber.scoring.lists.run_lists` (the lists the run puts to use), as every other
read of a run. A domain is found as the drawer finds it (ignoring case and a leading
``www.``).
"""

from __future__ import annotations

import uuid
from typing import Any

import polars as pl
from sqlalchemy.orm import Session

from caliber.campaigns import repository as campaign_repository
from caliber.core.errors import Conflict, InvalidInput, NotFound
from caliber.db.models import Campaign, RunStatus, ScoringRun
from caliber.scoring import pages, repository
from caliber.scoring.frames import MAX_NAME_LENGTH
from caliber.scoring.lists import run_lists
from caliber.scoring.runs import ResultsView, results_run

# far above RUN_RETENTION: every run a campaign keeps (retention removes older ones)
_MAX_RUNS = 10_000


def completed_runs(session: Session, campaign: Campaign) -> list[ScoringRun]:
    """The campaign's completed runs, oldest first (by start, as the runs route orders
    them)."""
    runs, _ = repository.runs_page(session, campaign.id, offset=0, limit=_MAX_RUNS)
    return [run for run in reversed(runs) if run.status == RunStatus.COMPLETED]


def view_of(campaign: Campaign, run: ScoringRun) -> ResultsView:
    """A completed run of the owner's campaign as the results reads see it."""
    return ResultsView(campaign, run, results_run(campaign, run))


def domain_history(
    session: Session, org_id: uuid.UUID, campaign_id: uuid.UUID, domain: str
) -> dict[str, Any]:
    """One row per completed run, oldest first: whether ``domain`` was in the run, its
    score, status, impressions and spend there, and the list it was on (404 when no run
    has it; 409 when the campaign has no completed run)."""
    wanted = domain.strip()
    if not wanted or len(wanted) > MAX_NAME_LENGTH:
        raise InvalidInput(
            f"domain must be 1 to {MAX_NAME_LENGTH} characters", field="domain", value=domain[:80]
        )
    campaign = campaign_repository.get_campaign(session, org_id, campaign_id)
    runs = completed_runs(session, campaign)
    if not runs:
        raise Conflict(
            f"this campaign has no completed run yet (status: {campaign.status}); score it "
            "and wait until it completes",
            campaign_id=str(campaign_id),
        )
    rows = []
    name: str | None = None
    for run in runs:
        view = view_of(campaign, run)
        record = pages.index().run(session, run).stored.find(wanted)
        row: dict[str, Any] = {
            "run_id": str(run.id),
            "completed_at": view.marker.to_dict()["completed_at"],
            "original_filename": (run.snapshot or {}).get("original_filename"),
            "present": record is not None,
            "score": None,
            "quality_status": None,
            "impressions": None,
            "spend": None,
            "list": None,
        }
        if record is not None:
            name = record.domain
            row.update(
                score=record.score,
                quality_status=record.quality_status,
                impressions=_whole(record.impressions),
                spend=record.spend,
                list=_list_of(session, view, record.domain),
            )
        rows.append(row)
    if name is None:
        raise NotFound(
            "domain not found in any completed run of this campaign",
            domain=wanted[:80],
            campaign_id=str(campaign_id),
        )
    return {"domain": name, "runs": rows}


def _list_of(session: Session, view: ResultsView, name: str) -> str | None:
    lists = run_lists(session, view)
    dimension = str(view.setup.resolve().level)
    for list_name, frame in (("whitelist", lists.whitelist), ("blacklist", lists.blacklist)):
        if frame.filter(pl.col(dimension) == name).height:
            return list_name
    return None


def _whole(value: float | None) -> float | int | None:
    if value is not None and float(value).is_integer():
        return int(value)
    return value
