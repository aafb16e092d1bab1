"""Which run a read of results answers, and a campaign's runs (``GET
/campaigns/{id}/runs``). Never commits.

Every scoring of a campaign is a run (:class:`~caliber.db.models.ScoringRun`). Reads of
results take an optional ``run_id``: by default the campaign's latest completed run
(``campaigns.results_run_id``), which a run in progress or a failed one never hides.
Another user's run, and a run of another campaign given to this one, are "not found".
Each answer says which run it comes from (:class:`ResultsRun`: ``run`` beside ``data``
and the headers of :meth:`ResultsRun.headers`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from caliber.campaigns import repository as campaign_repository
from caliber.core.errors import Conflict, NotFound
from caliber.db.models import Campaign, CampaignStatus, RunStatus, ScoringRun
from caliber.engine.config import Setup
from caliber.scoring import repository
from caliber.scoring.service import STOPPED, campaign_setup, setup_from_snapshot

RESULTS_COMPLETED_HEADER = "X-Results-Completed-At"
RESULTS_STALE_HEADER = "X-Results-Stale"


@dataclass(frozen=True)
class ResultsRun:
    """Which run an answer's results come from, and whether a later run exists that they
    do not reflect (``stale``: the run asked for is not the latest, or the latest is in
    progress, failed or was reset)."""

    run_id: uuid.UUID
    completed_at: datetime | None
    stale: bool
    latest_status: str
    latest_error: str | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": str(self.run_id),
            "completed_at": None if self.completed_at is None else _iso(self.completed_at),
            "stale": self.stale,
            "latest_status": self.latest_status,
            "latest_error": self.latest_error,
        }

    def headers(self) -> dict[str, str]:
        """The same, for responses that are files (and every other results response)."""
        headers = {RESULTS_STALE_HEADER: "true" if self.stale else "false"}
        if self.completed_at is not None:
            headers[RESULTS_COMPLETED_HEADER] = _iso(self.completed_at)
        return headers


@dataclass(frozen=True)
class ResultsView:
    """The owner's campaign, the completed run a read answers, and its marker."""

    campaign: Campaign
    run: ScoringRun
    marker: ResultsRun

    @property
    def setup(self) -> Setup:
        """The setup the run was scored with (its lists' threshold and quantiles)."""
        if self.run.snapshot and self.run.snapshot.get("setup"):
            return setup_from_snapshot(self.run.snapshot)
        return campaign_setup(self.campaign)

    @property
    def summary(self) -> dict[str, Any]:
        return dict(self.run.summary or {})


def results_view(
    session: Session, org_id: uuid.UUID, campaign_id: uuid.UUID, run_id: uuid.UUID | None = None
) -> ResultsView:
    """The run a read of the owner's campaign answers: ``run_id`` (404 if it is not a
    run of this campaign of this user; 409 if it has no results: in progress or failed),
    else the latest completed run (409 if none has completed yet)."""
    if run_id is None:
        # the campaign and its results' run in one round trip: every result page,
        # summary and list asks for both
        found = repository.campaign_and_results_run(session, org_id, campaign_id)
        if found is None:
            raise NotFound("campaign not found", campaign_id=str(campaign_id))
        campaign, run = found
        if run is None or campaign.summary is None:
            raise Conflict(
                f"this campaign has no scoring results yet (status: {campaign.status}); "
                "start scoring and wait until it completes",
                campaign_id=str(campaign_id),
                status=campaign.status,
            )
    else:
        campaign = campaign_repository.get_campaign(session, org_id, campaign_id)
        run = repository.get_run(session, org_id, campaign_id, run_id)
        if run is None:
            raise NotFound("run not found", run_id=str(run_id), campaign_id=str(campaign_id))
        if run.status != RunStatus.COMPLETED:
            status, _ = effective_status(
                run, campaign, repository.newest_run_id(session, campaign.id)
            )
            raise Conflict(
                f"this run has no results (status: {status}); read another run or the "
                "campaign's latest results",
                run_id=str(run_id),
                status=status,
            )
    return ResultsView(campaign, run, results_run(campaign, run))


def results_run(campaign: Campaign, run: ScoringRun) -> ResultsRun:
    stale = campaign.status != CampaignStatus.COMPLETED or run.id != campaign.results_run_id
    return ResultsRun(
        run_id=run.id,
        completed_at=run.finished_at,
        stale=stale,
        latest_status=str(campaign.status),
        latest_error=campaign.error_message if stale else None,
    )


def effective_status(
    run: ScoringRun, campaign: Campaign, newest: uuid.UUID | None
) -> tuple[str, str | None]:
    """A run's status and error as they stand: a run still marked processing whose
    campaign is no longer processing it (cancelled, failed by the watchdog, replaced)
    has failed, with the campaign's error when it is the campaign's latest run."""
    if run.status != RunStatus.PROCESSING:
        return str(run.status), run.error_message
    latest = run.id == newest
    if latest and campaign.status == CampaignStatus.PROCESSING:
        return RunStatus.PROCESSING.value, None
    if latest and campaign.status == CampaignStatus.FAILED and campaign.error_message:
        return RunStatus.FAILED.value, campaign.error_message
    return RunStatus.FAILED.value, STOPPED


def list_runs(
    session: Session, org_id: uuid.UUID, campaign_id: uuid.UUID, *, page: int, per_page: int
) -> tuple[list[dict[str, Any]], int]:
    """The owner's campaign's runs, newest first (404 for another user's campaign)."""
    campaign = campaign_repository.get_campaign(session, org_id, campaign_id)
    runs, total = repository.runs_page(
        session, campaign.id, offset=(page - 1) * per_page, limit=per_page
    )
    newest = repository.newest_run_id(session, campaign.id)
    return [run_facts(run, campaign, newest) for run in runs], total


def run_facts(run: ScoringRun, campaign: Campaign, newest: uuid.UUID | None) -> dict[str, Any]:
    """What the runs route says of a run (``RunOut``)."""
    status, error = effective_status(run, campaign, newest)
    snapshot = run.snapshot or {}
    return {
        "id": run.id,
        "campaign_id": campaign.id,
        "status": status,
        "started_at": run.started_at,
        "finished_at": run.finished_at,
        "completed_at": run.finished_at if status == RunStatus.COMPLETED else None,
        "file_upload_id": run.file_upload_id,
        "file_name": snapshot.get("original_filename"),
        "campaign_level_score": run.campaign_level_score,
        "row_count": run.row_count,
        "whitelist_count": run.whitelist_count,
        "blacklist_count": run.blacklist_count,
        "error_message": error,
        "latest_results": run.id == campaign.results_run_id,
    }


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
