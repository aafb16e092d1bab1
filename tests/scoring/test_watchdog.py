"""The watchdog fails campaigns stuck in processing beyond the time limit, and their
runs with them."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy import select

from caliber.db.base import utcnow
from caliber.db.migrate import upgrade
from caliber.db.models import Campaign, CampaignStatus, ScoringRun, User
from caliber.db.session import build_engine, session_factory, session_scope
from caliber.scoring import repository
from caliber.scoring.service import fail_stuck_campaigns


def test_only_campaigns_processing_too_long_are_failed(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'w.db'}"
    upgrade(url)
    engine = build_engine(url)
    sessions = session_factory(engine)
    now = utcnow()
    with session_scope(sessions) as session:
        user = User(firebase_uid="watch")
        session.add(user)
        session.flush()
        for name, status, started in (
            ("stuck", CampaignStatus.PROCESSING, now - timedelta(hours=2)),
            ("running", CampaignStatus.PROCESSING, now - timedelta(minutes=5)),
            ("done", CampaignStatus.COMPLETED, now - timedelta(hours=3)),
        ):
            campaign = Campaign(
                owner_id=user.id,
                name=name,
                platform="trade_desk",
                goal="awareness",
                channel="display",
                status=status,
                started_at=started,
            )
            session.add(campaign)
            session.flush()
            run = repository.add_run(session, campaign.id, {}, None, started)
            run.status = "processing" if status == CampaignStatus.PROCESSING else "completed"
    with session_scope(sessions) as session:
        assert fail_stuck_campaigns(session, older_than_seconds=1800) == 1
    with sessions() as session:
        states = {c.name: (c.status, c.error_message) for c in session.scalars(select(Campaign))}
    assert states["stuck"][0] == CampaignStatus.FAILED
    assert "did not finish within 30 minutes" in (states["stuck"][1] or "")
    assert states["running"] == (CampaignStatus.PROCESSING, None)
    assert states["done"] == (CampaignStatus.COMPLETED, None)
    with sessions() as session:
        runs = {
            name: (status, error)
            for name, status, error in session.execute(
                select(Campaign.name, ScoringRun.status, ScoringRun.error_message).join(
                    ScoringRun, ScoringRun.campaign_id == Campaign.id
                )
            )
        }
    assert runs["stuck"] == ("failed", states["stuck"][1])
    assert runs["running"] == ("processing", None)
    assert runs["done"] == ("completed", None)
    with session_scope(sessions) as session:  # nothing left to do: a second pass is a no-op
        assert fail_stuck_campaigns(session, older_than_seconds=1800) == 0
    engine.dispose()
