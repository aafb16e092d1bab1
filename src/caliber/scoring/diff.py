"""What changed between two completed runs of a campaign (``GET /scoring/diff/...`` and
its export), and the notification when a completed run changes the lists. Never commits.

Which runs: ``head`` defaults to the campaign's latest completed run (the one every read
defaults to), ``base`` to the completed run started before ``head``. A run named that is
not a run of this campaign of this user is a 404, one without results a 409
(:func:`caliber.scoring.runs.results_view`); a campaign with fewer than two completed
runs, or a head with no completed run before it, a 409 saying so. Each run's frame comes
from the page index and its lists from :func:`caliber.scoring.lists.run_lists`, as every
read of a run; the engine's :func:`caliber.engine.diff.compare` does the comparing.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy.orm import Session

from caliber.campaigns import repository as campaign_repository
from caliber.core.errors import Conflict
from caliber.db.models import Campaign, Notification, RunStatus, ScoringRun
from caliber.engine import diff as engine_diff
from caliber.notifications import service as notifications
from caliber.scoring import answers, pages, repository
from caliber.scoring.history import completed_runs, view_of
from caliber.scoring.lists import run_lists
from caliber.scoring.runs import ResultsView, results_view, run_facts
from caliber.scoring.schemas import RunOut

LISTS_CHANGED = "lists_changed"  # the notification's kind


@dataclass(frozen=True)
class RunPair:
    """The owner's campaign and the two runs compared."""

    campaign: Campaign
    base: ResultsView
    head: ResultsView

    @property
    def dimension(self) -> str:
        return str(self.head.setup.resolve().level)


def run_pair(
    session: Session,
    org_id: uuid.UUID,
    campaign_id: uuid.UUID,
    base_id: uuid.UUID | None = None,
    head_id: uuid.UUID | None = None,
) -> RunPair:
    """The runs to compare (see the module docstring for the defaults and errors)."""
    campaign = campaign_repository.get_campaign(session, org_id, campaign_id)  # 404 first
    head = results_view(session, org_id, campaign_id, head_id) if head_id is not None else None
    base = results_view(session, org_id, campaign_id, base_id) if base_id is not None else None
    if head is None or base is None:
        runs = completed_runs(session, campaign)
        if len(runs) < 2:
            raise Conflict(
                f"this campaign has {len(runs)} completed run{'' if len(runs) == 1 else 's'}; "
                "a diff needs two: score it again (the next export, or a re-score) and compare",
                campaign_id=str(campaign_id),
                completed_runs=len(runs),
            )
        if head is None:
            latest = next((r for r in runs if r.id == campaign.results_run_id), runs[-1])
            head = view_of(campaign, latest)
        if base is None:
            base = view_of(campaign, _before(runs, head.run, campaign_id))
    pair = RunPair(campaign, base, head)
    base_level = str(base.setup.resolve().level)
    if base_level != pair.dimension:
        raise Conflict(
            f"the runs are scored by different dimensions ({base_level} and "
            f"{pair.dimension}); compare runs of the same setup",
            base=str(base.run.id),
            head=str(head.run.id),
        )
    return pair


def _before(runs: list[ScoringRun], head: ScoringRun, campaign_id: uuid.UUID) -> ScoringRun:
    ids = [run.id for run in runs]
    position = ids.index(head.id) if head.id in ids else len(ids)
    if position == 0:
        raise Conflict(
            "the head run is this campaign's first completed run: there is no run before it "
            "to compare with; name base",
            campaign_id=str(campaign_id),
            head=str(head.id),
        )
    return runs[position - 1]


def side(session: Session, view: ResultsView) -> engine_diff.Side:
    """A run's result lines (keyed by its dimension) and its lists in use."""
    stored = pages.index().run(session, view.run).stored
    dimension = str(view.setup.resolve().level)
    lines = stored.lines()
    if dimension != "domain":
        lines = lines.rename({"domain": dimension})
    return engine_diff.Side(lines, run_lists(session, view))


def compare(
    session: Session, pair: RunPair, limit: int = engine_diff.DEFAULT_LIMIT
) -> engine_diff.RunDiff:
    """The engine's diff of the pair, made once per process, pair and limit (runs never
    change)."""
    key = ("diff", pair.base.run.id, pair.head.run.id, limit)

    def make() -> engine_diff.RunDiff:
        base, head = side(session, pair.base), side(session, pair.head)
        return engine_diff.compare(base, head, pair.dimension, limit)

    return cast(engine_diff.RunDiff, answers.run_values.get_or_make(key, make))


def run_diff(
    session: Session,
    org_id: uuid.UUID,
    campaign_id: uuid.UUID,
    base_id: uuid.UUID | None = None,
    head_id: uuid.UUID | None = None,
    limit: int = engine_diff.DEFAULT_LIMIT,
) -> dict[str, Any]:
    """The diff's answer: both runs' facts (as the runs route gives them), then the
    engine's diff."""
    pair = run_pair(session, org_id, campaign_id, base_id, head_id)
    found = compare(session, pair, limit)
    newest = repository.newest_run_id(session, pair.campaign.id)
    return {
        "base": _facts(pair.base.run, pair.campaign, newest),
        "head": _facts(pair.head.run, pair.campaign, newest),
        **found.to_dict(),
    }


def _facts(run: ScoringRun, campaign: Campaign, newest: uuid.UUID | None) -> dict[str, Any]:
    return RunOut.model_validate(run_facts(run, campaign, newest)).model_dump(mode="json")


def changes_of(session: Session, pair: RunPair) -> dict[str, dict[str, list[str]]]:
    """Per list, the names to add and to remove (head against base)."""
    return engine_diff.list_changes(
        run_lists(session, pair.base), run_lists(session, pair.head), pair.dimension
    )


def notify_list_changes(
    session: Session, org_id: uuid.UUID, campaign_id: uuid.UUID, run_id: uuid.UUID
) -> Notification | None:
    """When completed run ``run_id`` changed the lists of the completed run before it,
    one notification ("12 domains join the blacklist, 3 leave the whitelist"); None when
    it has no completed run before it, when the lists are the same, or when it was
    already sent (one per run)."""
    campaign = campaign_repository.get_campaign(session, org_id, campaign_id)
    run = repository.get_run(session, org_id, campaign_id, run_id)
    if run is None or run.status != RunStatus.COMPLETED:
        return None
    runs = completed_runs(session, campaign)
    ids = [r.id for r in runs]
    if run.id not in ids or ids.index(run.id) == 0:
        return None
    pair = RunPair(campaign, view_of(campaign, runs[ids.index(run.id) - 1]), view_of(campaign, run))
    if str(pair.base.setup.resolve().level) != pair.dimension:
        return None  # not comparable: another setup
    changes = changes_of(session, pair)
    sentence = engine_diff.counts_sentence(changes, pair.dimension)
    if not sentence:
        return None
    since = pair.base.run.finished_at
    when = f" since the run of {since:%Y-%m-%d %H:%M} UTC" if since is not None else ""
    notification = Notification(
        owner_id=campaign.owner_id,
        organization_id=campaign.organization_id,
        campaign_id=campaign_id,
        kind=LISTS_CHANGED,
        run_key=run.id.hex,
        title=f"{campaign.name}: the lists changed",
        message=f"{sentence[0].upper()}{sentence[1:]}{when}.",
    )
    return notifications.add_once(session, notification)
