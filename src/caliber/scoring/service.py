"""Scoring rules: starting a run, the guarded status updates of a run, and every read
of its result (progress, result pages, summary, optimization lists). Never commits.

What is stored is what the engine produced: one row per result row in the engine's
order (``rank``), the engine's ``summary()``, its processing report and column mapping.
Lists are rebuilt from the stored rows by the engine's own ``build_lists``, so they equal
what ``caliber score`` writes for the same file and setup.
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections.abc import Mapping
from datetime import timedelta
from typing import Any, cast

import orjson
import polars as pl
from sqlalchemy import CursorResult, select, update
from sqlalchemy.orm import Session

from caliber.campaigns import repository as campaign_repository
from caliber.campaigns import service as campaign_service
from caliber.core.errors import Conflict, InvalidInput, NotFound
from caliber.core.lru import RunCache
from caliber.db.base import utcnow
from caliber.db.models import Campaign, CampaignStatus, FileUpload
from caliber.engine.config import Setup
from caliber.engine.lists import build_lists
from caliber.engine.score import contribution_column
from caliber.files import service as files_service
from caliber.scoring import pages, repository
from caliber.scoring.repository import ResultFilters, SortColumn, SortDirection
from caliber.scoring.schemas import ListType, OptimizationListOut
from caliber.storage.base import Storage

# A completed campaign may be scored again (its results are replaced when the new run
# succeeds); only a run in progress blocks a new one.
STARTABLE = frozenset({CampaignStatus.PENDING, CampaignStatus.FAILED, CampaignStatus.COMPLETED})
STEP_QUEUED = "queued"
STEP_FAILED = "failed"


# --- starting -------------------------------------------------------------------------


def preflight(
    session: Session, storage: Storage, owner_id: uuid.UUID, campaign_id: uuid.UUID
) -> None:
    """Refuse to start a run the file cannot support (unreadable, no data rows, a column
    the setup needs is missing) with a 422 that says why; the campaign is unchanged."""
    campaign = campaign_repository.get_campaign(session, owner_id, campaign_id)
    if campaign.file_upload_id is None or campaign.status not in STARTABLE:
        return  # start_scoring explains these
    try:
        verdict = files_service.validate(
            session, storage, owner_id, campaign.file_upload_id, campaign.id
        )
    except NotFound as exc:
        raise Conflict(
            "the stored contents of this campaign's file are missing; upload it again",
            campaign_id=str(campaign_id),
        ) from exc
    if not verdict["valid"]:
        raise InvalidInput(
            f"the file cannot be scored: {verdict['message']}",
            field="file",
            errors=verdict["errors"],
        )
    if verdict["row_count"] == 0:
        raise InvalidInput("the file cannot be scored: it has no data rows", field="file")


def start_scoring(session: Session, owner_id: uuid.UUID, campaign_id: uuid.UUID) -> Campaign:
    """Validate and mark the campaign processing with a config snapshot. The caller
    commits, then enqueues the job."""
    campaign = campaign_repository.get_campaign_for_update(session, owner_id, campaign_id)
    if campaign.file_upload_id is None:
        raise Conflict(
            "no file is attached to this campaign; upload a file first "
            f"(POST /campaigns/{campaign_id}/upload)",
            campaign_id=str(campaign_id),
        )
    if campaign.status not in STARTABLE:
        raise Conflict(
            f"this campaign is already {campaign.status}; wait for the run to finish",
            campaign_id=str(campaign_id),
            status=campaign.status,
        )
    upload = campaign_repository.get_file_upload(session, owner_id, campaign.file_upload_id)
    setup = campaign_service.setup_of(campaign)  # the engine's 422 if it no longer resolves
    snapshot = config_snapshot(setup, upload)
    # Guarded on the status read above, so two concurrent starts cannot both win (SQLite
    # has no row lock).
    result = cast(
        CursorResult[Any],
        session.execute(
            update(Campaign)
            .where(
                Campaign.id == campaign.id,
                Campaign.owner_id == owner_id,
                Campaign.status == campaign.status,
            )
            .values(
                status=CampaignStatus.PROCESSING,
                progress_percentage=0,
                current_step=STEP_QUEUED,
                started_at=utcnow(),
                completed_at=None,
                error_message=None,
                config_snapshot=snapshot,
                summary=None,
                campaign_level_score=None,
                data_quality_report=None,
                column_mapping=None,
                total_records=None,
                processed_records=None,
                updated_at=utcnow(),
            )
            .execution_options(synchronize_session=False)
        ),
    )
    if result.rowcount != 1:
        raise Conflict("this campaign changed state meanwhile; try again")
    session.refresh(campaign)
    return campaign


def config_snapshot(setup: Setup, upload: FileUpload) -> dict[str, Any]:
    """The setup and weights a run uses, and the file it reads."""
    resolved = setup.resolve()
    return {
        "setup": setup.to_dict(),
        "analysis_level": str(resolved.level),
        "weights": resolved.weights,
        "directions": {
            m.name: "higher_is_better" if m.higher_is_better else "lower_is_better"
            for m in resolved.metrics
        },
        "file_upload_id": str(upload.id),
        "original_filename": upload.original_filename,
    }


def setup_from_snapshot(snapshot: Mapping[str, Any]) -> Setup:
    values = snapshot["setup"]
    setup = campaign_service.build_setup(values)
    return dataclasses.replace(
        setup,
        pulsepoint_min_share=float(values.get("pulsepoint_min_share", setup.pulsepoint_min_share)),
        whitelist_quantile=float(values.get("whitelist_quantile", setup.whitelist_quantile)),
        blacklist_quantile=float(values.get("blacklist_quantile", setup.blacklist_quantile)),
    )


def campaign_setup(campaign: Campaign) -> Setup:
    """The setup the campaign's results were (or will be) produced with."""
    if campaign.config_snapshot:
        return setup_from_snapshot(campaign.config_snapshot)
    return campaign_service.setup_of(campaign)


def fail(session: Session, owner_id: uuid.UUID, campaign_id: uuid.UUID, message: str) -> bool:
    """processing → failed with ``message``; False (and nothing changed) otherwise."""
    return update_if_processing(
        session,
        owner_id,
        campaign_id,
        status=CampaignStatus.FAILED,
        current_step=STEP_FAILED,
        error_message=message,
    )


STUCK_MESSAGE = (
    "scoring did not finish within {minutes} minutes; the worker running it may have "
    "stopped. Start scoring again."
)


def fail_stuck_campaigns(session: Session, *, older_than_seconds: int) -> int:
    """The watchdog: fail every campaign processing for longer than the time limit (a
    run whose worker died never comes back on its own). Returns how many it failed."""
    cutoff = utcnow() - timedelta(seconds=older_than_seconds)
    message = STUCK_MESSAGE.format(minutes=round(older_than_seconds / 60))
    result = cast(
        CursorResult[Any],
        session.execute(
            update(Campaign)
            .where(
                Campaign.status == CampaignStatus.PROCESSING,
                Campaign.started_at.is_not(None),
                Campaign.started_at < cutoff,
            )
            .values(
                status=CampaignStatus.FAILED,
                current_step=STEP_FAILED,
                error_message=message,
                updated_at=utcnow(),
            )
            .execution_options(synchronize_session=False)
        ),
    )
    return int(result.rowcount or 0)


def processing_runs(session: Session) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """(campaign id, owner id) of every campaign processing, oldest first."""
    rows = session.execute(
        select(Campaign.id, Campaign.owner_id)
        .where(Campaign.status == CampaignStatus.PROCESSING)
        .order_by(Campaign.started_at)
    )
    return [(row[0], row[1]) for row in rows]


def set_step(
    session: Session, owner_id: uuid.UUID, campaign_id: uuid.UUID, step: str, percentage: int
) -> bool:
    return update_if_processing(
        session, owner_id, campaign_id, current_step=step, progress_percentage=percentage
    )


def update_if_processing(
    session: Session, owner_id: uuid.UUID, campaign_id: uuid.UUID, **values: Any
) -> bool:
    """Update the campaign only while it is processing (atomic on both backends)."""
    result = cast(
        CursorResult[Any],
        session.execute(
            update(Campaign)
            .where(
                Campaign.id == campaign_id,
                Campaign.owner_id == owner_id,
                Campaign.status == CampaignStatus.PROCESSING,
            )
            .values(**values, updated_at=utcnow())
            .execution_options(synchronize_session=False)
        ),
    )
    return result.rowcount == 1


# --- reads ----------------------------------------------------------------------------------


def get_progress(session: Session, owner_id: uuid.UUID, campaign_id: uuid.UUID) -> Campaign:
    return campaign_repository.get_campaign(session, owner_id, campaign_id)


def completed_campaign(session: Session, owner_id: uuid.UUID, campaign_id: uuid.UUID) -> Campaign:
    """The owner's campaign if its scoring completed; 409 otherwise."""
    campaign = campaign_repository.get_campaign(session, owner_id, campaign_id)
    if campaign.status != CampaignStatus.COMPLETED or campaign.summary is None:
        raise Conflict(
            f"this campaign has no scoring results yet (status: {campaign.status}); "
            "start scoring and wait until it completes",
            campaign_id=str(campaign_id),
            status=campaign.status,
        )
    return campaign


def results_page(
    session: Session,
    owner_id: uuid.UUID,
    campaign_id: uuid.UUID,
    *,
    filters: ResultFilters,
    sort_by: SortColumn = "score",
    direction: SortDirection = "desc",
    page: int = 1,
    per_page: int = 50,
) -> tuple[list[dict[str, Any]], int]:
    """One page of result rows (:class:`ResultRow` fields) and the number matching."""
    campaign = _page_campaign(session, owner_id, campaign_id, filters)
    return _read_page(session, campaign, filters, sort_by, direction, page, per_page)


def results_page_json(
    session: Session,
    owner_id: uuid.UUID,
    campaign_id: uuid.UUID,
    *,
    filters: ResultFilters,
    sort_by: SortColumn = "score",
    direction: SortDirection = "desc",
    page: int = 1,
    per_page: int = 50,
) -> bytes:
    """The page in its response envelope (``Page[ResultRow]``), encoded once per run,
    query and page: a run's pages never change, and the first pages of a campaign are
    read over and over."""
    campaign = _page_campaign(session, owner_id, campaign_id, filters)
    key = (campaign.id, campaign.completed_at, filters, sort_by, direction, page, per_page)

    def encode() -> bytes:
        rows, total = _read_page(session, campaign, filters, sort_by, direction, page, per_page)
        envelope = {
            "success": True,
            "data": rows,
            "message": None,
            "total": total,
            "page": page,
            "per_page": per_page,
            "has_next": page * per_page < total,
            "has_prev": page > 1,
        }
        return _dumps(envelope)

    return _page_bodies.get_or_make(key, encode)


def _dumps(value: Any) -> bytes:
    """orjson; the standard library for what orjson cannot write (integers beyond 64
    bits, which Caliber itself never stores)."""
    try:
        return orjson.dumps(value)
    except TypeError:
        return json.dumps(value, separators=(",", ":")).encode()


# encoded pages (~75 KB for 50 rows): at most 64 MB per process
_page_bodies: RunCache[bytes] = RunCache(4096, weight=len, max_weight=64 * 2**20)


def clear_read_caches() -> None:
    """Forget every cached page, count and list of this process (tests; a new run never
    needs it: its keys are new)."""
    for cache in (_page_bodies, _list_bodies, _runs):
        cache.clear()
    pages.index().clear()


def _page_campaign(
    session: Session, owner_id: uuid.UUID, campaign_id: uuid.UUID, filters: ResultFilters
) -> Campaign:
    if (
        filters.min_score is not None
        and filters.max_score is not None
        and filters.min_score > filters.max_score
    ):
        raise InvalidInput("min_score must not exceed max_score", field="min_score")
    return completed_campaign(session, owner_id, campaign_id)


def _read_page(
    session: Session,
    campaign: Campaign,
    filters: ResultFilters,
    sort_by: SortColumn,
    direction: SortDirection,
    page: int,
    per_page: int,
) -> tuple[list[dict[str, Any]], int]:
    offset = (page - 1) * per_page
    row_count = _row_count(campaign)
    if row_count is not None and pages.index().serves(row_count):
        run = pages.RunKey(campaign.id, campaign.completed_at)
        ranks = pages.index().ranks(session, run, filters, sort_by, direction)
        found = pages.fetch_rows(session, campaign.id, ranks[offset : offset + per_page])
        return [result_row(r) for r in found], int(ranks.size)
    rows, total = repository.results_page(
        session,
        campaign.id,
        filters=filters,
        sort_by=sort_by,
        direction=direction,
        offset=offset,
        limit=per_page,
        total=_known_total(session, campaign, filters),
    )
    return [result_row(r) for r in rows], total


def _row_count(campaign: Campaign) -> int | None:
    summary = campaign.summary or {}
    count = summary.get("row_count")
    return int(count) if isinstance(count, int | float) else None


# Results never change between runs, so counts and lists are kept per run (keyed by the
# run's completion time) in a small per-process cache.
_runs: RunCache[Any] = RunCache(256)


def _known_total(session: Session, campaign: Campaign, filters: ResultFilters) -> int:
    """The number of matching rows without a count per page: every row for no filters
    (the summary's row_count), else counted once per run and filters."""
    row_count = _row_count(campaign)
    if filters == ResultFilters() and row_count is not None:
        return row_count
    key = ("count", campaign.id, campaign.completed_at, filters)
    return int(
        _runs.get_or_make(key, lambda: repository.count_results(session, campaign.id, filters))
    )


def result_row(row: Any) -> dict[str, Any]:
    """A stored row (ORM object or selected row) as a :class:`ResultRow` dict. Plain dicts,
    not models: a page is encoded straight to JSON, and this runs 50 times per page."""
    metrics = row.metrics or {}
    return {
        "rank": row.rank,
        "domain": row.domain,
        "impressions": _whole(row.impressions),
        "spend": row.spend,
        "cpm": row.cpm,
        "ctr": row.ctr,
        "conversions": None if row.conversions is None else _whole(row.conversions),
        "conversion_rate": row.conversion_rate,
        "score": row.score,
        "percentile_rank": row.percentile_rank,
        "quality_status": row.quality_status,
        "is_outlier": row.is_outlier,
        "outlier_flags": list(row.outlier_flags or []),
        "raw_metrics": metrics.get("values", {}),
        "normalized_metrics": metrics.get("normalized", {}),
        "score_breakdown": row.score_breakdown or {},
        "source_rows": metrics.get("source_rows"),
    }


def _whole(value: float) -> int | float:
    return int(value) if float(value).is_integer() else value


def get_summary(session: Session, owner_id: uuid.UUID, campaign_id: uuid.UUID) -> dict[str, Any]:
    campaign = completed_campaign(session, owner_id, campaign_id)
    assert campaign.summary is not None
    return {"campaign_id": str(campaign.id), **campaign.summary}


def optimization_list(
    session: Session,
    owner_id: uuid.UUID,
    campaign_id: uuid.UUID,
    list_type: ListType,
    min_impressions: float | None = None,
) -> OptimizationListOut:
    """The whitelist or blacklist of the stored rows, by the engine's ``build_lists``
    (default eligibility: the campaign's min_impressions)."""
    campaign = completed_campaign(session, owner_id, campaign_id)
    chosen, dimension, payload = _list_payload(session, campaign, list_type, min_impressions)
    return OptimizationListOut.model_validate({**payload, "entries": _entries(chosen, dimension)})


def optimization_list_json(
    session: Session,
    owner_id: uuid.UUID,
    campaign_id: uuid.UUID,
    list_type: ListType,
    min_impressions: float | None = None,
) -> bytes:
    """:func:`optimization_list` in its response envelope, encoded once per run, list
    and threshold. A 200k-row campaign's list is ~50,000 entries (~7 MB of JSON): polars
    writes them straight from the frame (not 50,000 dicts, let alone models)."""
    campaign = completed_campaign(session, owner_id, campaign_id)
    key = (campaign.id, campaign.completed_at, list_type, min_impressions)

    def encode() -> bytes:
        chosen, dimension, payload = _list_payload(session, campaign, list_type, min_impressions)
        impressions = chosen["impressions"]
        if impressions.len() and (impressions != impressions.floor()).any():
            entries = _dumps(_entries(chosen, dimension))  # some fractional: value by value
        else:  # counts: written as integers, as _whole writes them
            entries = (
                chosen.select(
                    pl.col(dimension).alias("domain"),
                    "score",
                    pl.col("impressions").cast(pl.Int64),
                    "percentile_rank",
                    "quality_status",
                )
                .write_json()
                .encode()
            )
        data = _dumps(payload)  # {...}: the entries go in before its closing brace
        return b'{"success":true,"data":%s,"entries":%s},"message":null}' % (data[:-1], entries)

    return _list_bodies.get_or_make(key, encode)


def _list_payload(
    session: Session, campaign: Campaign, list_type: ListType, min_impressions: float | None
) -> tuple[pl.DataFrame, str, dict[str, Any]]:
    """The chosen list's rows, the dimension, and every field of
    :class:`OptimizationListOut` but ``entries``."""
    setup = campaign_setup(campaign)
    dimension = str(setup.resolve().level)
    threshold = setup.min_impressions if min_impressions is None else min_impressions
    lists = _runs.get_or_make(
        ("lists", campaign.id, campaign.completed_at, threshold),
        lambda: build_lists(
            _list_frame(session, campaign, dimension),
            dimension,
            threshold,
            setup.whitelist_quantile,
            setup.blacklist_quantile,
        ),
    )
    chosen = lists.whitelist if list_type == "whitelist" else lists.blacklist
    whitelist = list_type == "whitelist"
    total_impressions = float(chosen["impressions"].sum()) if chosen.height else 0.0
    average = chosen["score"].mean() if chosen.height else None
    payload = {
        "list_type": list_type,
        "campaign_id": str(campaign.id),
        "analysis_level": dimension,
        "domains": chosen[dimension].to_list(),
        "count": chosen.height,
        "criteria_used": {
            **lists.criteria(),
            "list_type": list_type,
            "quantile": setup.whitelist_quantile if whitelist else setup.blacklist_quantile,
            "score_threshold": (
                lists.whitelist_threshold if whitelist else lists.blacklist_threshold
            ),
            "rule": (
                "eligible rows with score >= the quantile, best first"
                if whitelist
                else "eligible rows with score <= the quantile, worst first"
            ),
        },
        "total_impressions": _whole(total_impressions),
        "average_score": None if average is None else round(float(cast(float, average)), 2),
    }
    return chosen, dimension, payload


def _entries(chosen: pl.DataFrame, dimension: str) -> list[dict[str, Any]]:
    """The list's rows as :class:`ListEntry` dicts."""
    return [
        {
            "domain": domain,
            "score": score,
            "impressions": _whole(impressions),
            "percentile_rank": percentile,
            "quality_status": status,
        }
        for domain, score, impressions, percentile, status in zip(
            chosen[dimension].to_list(),
            chosen["score"].to_list(),
            chosen["impressions"].to_list(),
            chosen["percentile_rank"].to_list(),
            chosen["quality_status"].to_list(),
            strict=True,
        )
    ]


_list_bodies: RunCache[bytes] = RunCache(64, weight=len, max_weight=128 * 2**20)


def _list_frame(session: Session, campaign: Campaign, dimension: str) -> pl.DataFrame:
    """The columns ``build_lists`` reads, in rank order: from the run's page index when
    it is (or can be) held in memory, else from the database."""
    row_count = _row_count(campaign)
    if row_count is None or not pages.index().serves(row_count):
        return repository.list_frame(session, campaign.id, dimension)
    frame = pages.index().frame(session, pages.RunKey(campaign.id, campaign.completed_at))
    return frame.select(
        pl.col("domain").alias(dimension),
        "score",
        "impressions",
        pl.col("percentile_rank").cast(pl.Int64),
        "quality_status",
    )


def results_frame(session: Session, owner_id: uuid.UUID, campaign_id: uuid.UUID) -> pl.DataFrame:
    """The stored results as the engine's ``results`` frame: same columns, order and
    values (``caliber score``'s results.csv, with outlier_flags as a list)."""
    campaign = completed_campaign(session, owner_id, campaign_id)
    resolved = campaign_setup(campaign).resolve()
    dimension = str(resolved.level)
    metrics = [m.name for m in resolved.metrics]
    head = ["impressions", "spend", "cpm", "ctr", "conversions", "conversion_rate"]
    extra = [m for m in metrics if m not in head]
    records: list[dict[str, Any]] = []
    for row in repository.all_results(session, campaign.id):
        stored = row.metrics or {}
        values = stored.get("values", {})
        normalized = stored.get("normalized", {})
        breakdown = row.score_breakdown or {}
        record: dict[str, Any] = {dimension: row.domain}
        record.update({c: getattr(row, c) for c in head})
        record.update({m: values.get(m) for m in extra})
        record.update({f"{m}_normalized": normalized.get(m) for m in metrics})
        record.update(
            score=row.score,
            percentile_rank=row.percentile_rank,
            quality_status=row.quality_status,
            outlier_flags=list(row.outlier_flags or []),
            is_outlier=row.is_outlier,
        )
        record.update(
            {contribution_column(m): breakdown.get(m, {}).get("contribution") for m in metrics}
        )
        record["source_rows"] = stored.get("source_rows")
        records.append(record)
    schema: dict[str, pl.DataType | type[pl.DataType]] = {dimension: pl.String}
    schema.update(dict.fromkeys([*head, *extra], pl.Float64))
    schema.update({f"{m}_normalized": pl.Float64 for m in metrics})
    schema.update(
        score=pl.Float64,
        percentile_rank=pl.Int64,
        quality_status=pl.String,
        outlier_flags=pl.List(pl.String),
        is_outlier=pl.Boolean,
    )
    schema.update({contribution_column(m): pl.Float64 for m in metrics})
    schema["source_rows"] = pl.get_index_type()  # a row count, as the engine counts
    frame = pl.DataFrame(records, schema=schema)
    # as the engine shows them: counts that are whole numbers as integers
    whole = [
        c
        for c in ("impressions", "conversions")
        if frame.height and bool((frame[c].drop_nulls() % 1 == 0).all())
    ]
    return frame.with_columns(pl.col(c).cast(pl.Int64) for c in whole)
