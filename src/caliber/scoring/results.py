"""Reads of a campaign's results (its last successful run's): result pages, the
summary, the optimization lists and the results frame. Never commits.

A run's rows never change (a new run has a new run id), so pages, counts and lists are
computed once per run, query and process, and kept encoded: a page is served from the
run index of :mod:`caliber.scoring.pages` (or by SQL beyond its budget), and lists are
rebuilt from the stored rows by the engine's own ``build_lists``, so they equal what
``caliber score`` writes for the same file and setup.

Each answer says which run it comes from (``run`` beside ``data``, and the headers of
:meth:`~caliber.scoring.service.ResultsRun.headers`): while a newer run is in progress,
or after one failed, the results are the previous run's, marked ``stale``.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any, cast

import orjson
import polars as pl
from sqlalchemy.orm import Session

from caliber.core.errors import InvalidInput
from caliber.core.lru import RunCache
from caliber.db.models import Campaign
from caliber.engine.lists import build_lists
from caliber.engine.score import contribution_column
from caliber.scoring import pages, repository
from caliber.scoring.repository import ResultFilters, SortColumn, SortDirection
from caliber.scoring.schemas import ListType, OptimizationListOut
from caliber.scoring.service import ResultsRun, campaign_setup, completed_campaign, results_run


@dataclass(frozen=True)
class Answer:
    """A response body (the envelope, encoded) and the run its results come from."""

    body: bytes
    run: ResultsRun


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
) -> Answer:
    """The page in its response envelope (``Page[ResultRow]``), encoded once per run,
    query and page: a run's pages never change, and the first pages of a campaign are
    read over and over."""
    campaign = _page_campaign(session, owner_id, campaign_id, filters)
    key = (campaign.results_run_id, filters, sort_by, direction, page, per_page)

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

    return _answer(_page_bodies.get_or_make(key, encode), results_run(campaign))


def _answer(cached: bytes, run: ResultsRun) -> Answer:
    """The cached envelope with its ``run`` (which is not cached with it: a run's pages
    stay the same when a later run starts or fails, its marker does not)."""
    return Answer(cached[:-1] + b',"run":' + _dumps(run.to_dict()) + b"}", run)


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
    run_id = _run_id(campaign)
    if row_count is not None and pages.index().serves(row_count):
        ranks = pages.index().ranks(session, pages.RunKey(run_id), filters, sort_by, direction)
        found = pages.fetch_rows(session, run_id, ranks[offset : offset + per_page])
        return [result_row(r) for r in found], int(ranks.size)
    rows, total = repository.results_page(
        session,
        run_id,
        filters=filters,
        sort_by=sort_by,
        direction=direction,
        offset=offset,
        limit=per_page,
        total=_known_total(session, campaign, filters),
    )
    return [result_row(r) for r in rows], total


def _run_id(campaign: Campaign) -> uuid.UUID:
    assert campaign.results_run_id is not None  # completed_campaign checked it
    return campaign.results_run_id


def _row_count(campaign: Campaign) -> int | None:
    summary = campaign.summary or {}
    count = summary.get("row_count")
    return int(count) if isinstance(count, int | float) else None


# Results never change within a run, so counts and lists are kept per run (keyed by the
# run's id) in a small per-process cache.
_runs: RunCache[Any] = RunCache(256)


def _known_total(session: Session, campaign: Campaign, filters: ResultFilters) -> int:
    """The number of matching rows without a count per page: every row for no filters
    (the summary's row_count), else counted once per run and filters."""
    row_count = _row_count(campaign)
    if filters == ResultFilters() and row_count is not None:
        return row_count
    run_id = _run_id(campaign)
    key = ("count", run_id, filters)
    return int(_runs.get_or_make(key, lambda: repository.count_results(session, run_id, filters)))


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


def get_summary(
    session: Session, owner_id: uuid.UUID, campaign_id: uuid.UUID
) -> tuple[dict[str, Any], ResultsRun]:
    """The engine's summary of the campaign's results, and the run it comes from."""
    campaign = completed_campaign(session, owner_id, campaign_id)
    assert campaign.summary is not None
    return {"campaign_id": str(campaign.id), **campaign.summary}, results_run(campaign)


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
) -> Answer:
    """:func:`optimization_list` in its response envelope, encoded once per run, list
    and threshold. A 200k-row campaign's list is ~50,000 entries (~7 MB of JSON): polars
    writes them straight from the frame (not 50,000 dicts, let alone models)."""
    campaign = completed_campaign(session, owner_id, campaign_id)
    key = (campaign.results_run_id, list_type, min_impressions)

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

    return _answer(_list_bodies.get_or_make(key, encode), results_run(campaign))


def _list_payload(
    session: Session, campaign: Campaign, list_type: ListType, min_impressions: float | None
) -> tuple[pl.DataFrame, str, dict[str, Any]]:
    """The chosen list's rows, the dimension, and every field of
    :class:`OptimizationListOut` but ``entries``."""
    setup = campaign_setup(campaign)
    dimension = str(setup.resolve().level)
    threshold = setup.min_impressions if min_impressions is None else min_impressions
    lists = _runs.get_or_make(
        ("lists", campaign.results_run_id, threshold),
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
        return repository.list_frame(session, _run_id(campaign), dimension)
    frame = pages.index().frame(session, pages.RunKey(_run_id(campaign)))
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
    for row in repository.all_results(session, _run_id(campaign)):
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
