"""The scoring job: read the campaign's file, run the engine, store the result.

Idempotent: it acts only on a campaign of ``user_id`` that is ``processing``, so a
redelivered or stale job does nothing. Each step is its own short transaction (this
module is the job's edge and owns them); the result is saved by
:mod:`caliber.scoring.saving` under a new run id and becomes the campaign's results, and
the campaign completed, in one short transaction at the end (until then, and if the run
fails, the previous results stay readable).

Steps (``current_step``): queued → loading_data → preprocessing → scoring → saving →
completed, or failed with a readable ``error_message``.
"""

from __future__ import annotations

import logging
import math
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Protocol

import polars as pl
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from caliber.campaigns import repository as campaign_repository
from caliber.core.errors import CaliberError, InvalidInput, NotFound, UpstreamUnavailable
from caliber.db.models import CampaignStatus
from caliber.db.session import session_scope
from caliber.engine import pipeline
from caliber.engine.config import Setup
from caliber.engine.errors import EngineError
from caliber.engine.options import ReadOptions
from caliber.scoring import repository, saving
from caliber.scoring import service as scoring_service
from caliber.storage.base import Storage

logger = logging.getLogger(__name__)

GENERIC_FAILURE = (
    "scoring failed because of an internal error; try again, and contact support if it "
    "keeps failing"
)
MISSING_FILE = "the campaign's file is missing from storage; upload it again"
STEP_LOADING = "loading_data"
STEP_SAVING = saving.STEP_SAVING
# The engine's progress steps, as the campaign's current_step.
ENGINE_STEPS = {
    "reading": STEP_LOADING,
    "cleaning": "preprocessing",
    "scoring": "scoring",
    "lists": "scoring",
    "done": STEP_SAVING,
}
_ENGINE_START, _ENGINE_SPAN = 5, 80  # the engine's share of progress_percentage
MAX_NAME_LENGTH = 512  # scoring_results.domain


class JobServices(Protocol):
    """What the job uses of the application container."""

    sessions: sessionmaker[Session]
    storage: Storage


@dataclass(frozen=True)
class JobInput:
    """What a claimed job needs outside the database: the setup, the stored file and the
    reading choices resolved when the run started."""

    setup: Setup
    storage_key: str
    filename: str
    options: ReadOptions = field(default_factory=ReadOptions)


def run_scoring_job(
    services: JobServices, *, campaign_id: str, user_id: str, transient: bool = False
) -> None:
    """Score campaign ``campaign_id`` of user ``user_id`` (ids as strings: job arguments).

    With ``transient=True`` (a queue that retries), a database or storage outage is
    raised so the run is retried later, and the campaign stays processing meanwhile;
    otherwise it fails the campaign like any other error. Bad data never retries."""
    cid, uid = uuid.UUID(campaign_id), uuid.UUID(user_id)
    with session_scope(services.sessions) as session:
        job = claim_job(session, uid, cid)
    if job is None:
        logger.info("scoring job for campaign %s: nothing to do", cid)
        return
    try:
        try:
            data = services.storage.read(job.storage_key)
        except NotFound:
            _fail(services, uid, cid, MISSING_FILE)
            return

        def progress(step: str, fraction: float) -> None:
            share = round(max(0.0, min(1.0, fraction)) * _ENGINE_SPAN)
            _set_step(services, uid, cid, ENGINE_STEPS.get(step, "scoring"), _ENGINE_START + share)

        result = pipeline.score(
            data, job.setup, filename=job.filename, options=job.options, progress=progress
        )
        run_id = uuid.uuid4()
        stored = saving.save_run(
            services.sessions,
            uid,
            cid,
            run_id,
            result_rows(result, cid, run_id),
            completion(result),
        )
        if not stored:
            logger.info("campaign %s left processing during scoring; result discarded", cid)
        else:
            _refresh_statistics(services)
    except (OperationalError, UpstreamUnavailable):
        if transient:
            raise
        logger.exception("scoring job for campaign %s hit an outage", cid)
        _fail(services, uid, cid, GENERIC_FAILURE)
    except (EngineError, CaliberError) as exc:  # the file's problem, told to the user
        _fail(services, uid, cid, exc.message)
    except Exception:
        logger.exception("scoring job for campaign %s failed", cid)
        _fail(services, uid, cid, GENERIC_FAILURE)


def _refresh_statistics(services: JobServices) -> None:
    try:
        with services.sessions() as session:
            repository.refresh_statistics(session)
    except Exception:  # an optimisation: never fail a completed run for it
        logger.warning("could not refresh the results table's statistics", exc_info=True)


def _set_step(
    services: JobServices, owner_id: uuid.UUID, campaign_id: uuid.UUID, step: str, percentage: int
) -> None:
    with session_scope(services.sessions) as session:
        scoring_service.set_step(session, owner_id, campaign_id, step, percentage)


def _fail(services: JobServices, owner_id: uuid.UUID, campaign_id: uuid.UUID, message: str) -> None:
    with session_scope(services.sessions) as session:
        scoring_service.fail(session, owner_id, campaign_id, message)


# --- the job's database side (the caller owns the transaction) ---------------------------


def claim_job(session: Session, owner_id: uuid.UUID, campaign_id: uuid.UUID) -> JobInput | None:
    """What the job needs, or None when there is nothing to do (not the owner's, or not
    processing: a redelivered or stale job)."""
    try:
        campaign = campaign_repository.get_campaign(session, owner_id, campaign_id)
    except NotFound:
        return None
    if campaign.status != CampaignStatus.PROCESSING:
        return None
    # the file the run was started with, even if another was attached since
    file_id = (campaign.run_snapshot or {}).get("file_upload_id") or campaign.file_upload_id
    if file_id is None:
        scoring_service.fail(session, owner_id, campaign_id, "no file is attached; upload one")
        return None
    try:
        upload = campaign_repository.get_file_upload(session, owner_id, uuid.UUID(str(file_id)))
    except NotFound:
        scoring_service.fail(session, owner_id, campaign_id, "the file was deleted; upload again")
        return None
    scoring_service.set_step(session, owner_id, campaign_id, STEP_LOADING, _ENGINE_START)
    setup = scoring_service.run_setup(campaign)
    options = scoring_service.run_options(campaign)
    return JobInput(setup, upload.storage_key, upload.original_filename, options)


def store_result(
    session: Session, owner_id: uuid.UUID, campaign_id: uuid.UUID, result: pipeline.ScoringResult
) -> bool:
    """Save ``result`` as the campaign's results and mark it completed, all in the
    session's transaction (the job itself saves through :func:`saving.save_run`). False
    (nothing written) if it is no longer processing."""
    run_id = uuid.uuid4()
    rows = result_rows(result, campaign_id, run_id)
    stored = saving.store_run(session, owner_id, campaign_id, run_id, rows, completion(result))
    if stored is None:
        return False
    repository.delete_runs(session, campaign_id, stored)
    return True


def completion(result: pipeline.ScoringResult) -> dict[str, Any]:
    """What the campaign records of a successful run, beside its rows."""
    report = result.report
    return {
        "summary": json_safe(result.summary()),
        "campaign_level_score": result.campaign["campaign_level_score"],
        "data_quality_report": json_safe(report.to_dict()),
        "column_mapping_used": dict(report.column_mapping),
        "total_records": report.rows_read,
        "processed_records": report.rows_read,
    }


def result_rows(
    result: pipeline.ScoringResult, campaign_id: uuid.UUID, run_id: uuid.UUID
) -> list[dict[str, Any]]:
    """The engine's result rows as ``scoring_results`` rows of run ``run_id`` (keys of
    :data:`repository.COLUMNS`); rank = position in the engine's order."""
    dimension = result.dimension
    metrics = result.metric_names
    frame = result.results
    floats = [name for name, dtype in frame.schema.items() if dtype.is_float()]
    # NaN and infinities are neither JSON nor sortable: store them as missing
    frame = frame.with_columns(
        pl.when(pl.col(c).is_finite()).then(pl.col(c)).alias(c) for c in floats
    )
    too_long = frame.filter(pl.col(dimension).str.len_chars() > MAX_NAME_LENGTH).height
    if too_long:
        raise InvalidInput(
            f"{too_long} {dimension} value(s) are longer than {MAX_NAME_LENGTH} characters; "
            "check the file's dimension column",
            field=dimension,
        )
    rows: list[dict[str, Any]] = []
    for rank, row in enumerate(frame.iter_rows(named=True), start=1):
        rows.append(
            {
                "id": uuid.uuid4(),
                "campaign_id": campaign_id,
                "run_id": run_id,
                "rank": rank,
                "domain": row[dimension],
                "impressions": float(row["impressions"]),
                "spend": _float(row["spend"]),
                "cpm": _float(row["cpm"]),
                "ctr": _float(row["ctr"]),
                "conversions": _float(row["conversions"]),
                "conversion_rate": _float(row["conversion_rate"]),
                "score": float(row["score"]),
                "percentile_rank": int(row["percentile_rank"]),
                "quality_status": row["quality_status"],
                "is_outlier": bool(row["is_outlier"]),
                "outlier_flags": list(row["outlier_flags"] or []),
                "metrics": {
                    "values": {m: row[m] for m in metrics},
                    "normalized": {m: row[f"{m}_normalized"] for m in metrics},
                    "source_rows": row["source_rows"],
                },
                "score_breakdown": result.breakdown(row),
            }
        )
    return rows


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def json_safe(value: Any) -> Any:
    """``value`` with non-finite floats as None and dates as ISO strings (JSON columns)."""
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)
