"""Every export of a run of a campaign (its latest completed run unless ``run_id`` names
another), by format name: used by the download routes (answered directly) and by the
``generate_export`` task (stored, then downloaded).

Owner checks come first: another user's campaign, or a run that is not the campaign's,
is "not found"; a campaign without results, or a run without results (in progress,
failed), is a conflict (409), before any byte is produced.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import select
from sqlalchemy.orm import Session

from caliber.core.errors import Conflict, InvalidInput
from caliber.db.base import utcnow
from caliber.db.models import AIInsight
from caliber.reports import csv_writer, dsp, formats
from caliber.reports.data import CampaignFacts, ReportData
from caliber.reports.gather import campaign_facts, report_data, result_batches, stored_run
from caliber.scoring.frames import StoredRun
from caliber.scoring.impact import impact_of
from caliber.scoring.repository import ResultFilters
from caliber.scoring.runs import ResultsView, results_view

ExportFormat = Literal[
    "results_csv",
    "whitelist_csv",
    "blacklist_csv",
    "summary_csv",
    "optimization_lists_csv",
    "whitelist_json",
    "blacklist_json",
    "campaign_json",
    "pdf",
    "whitelist_txt",
    "blacklist_txt",
    "whitelist_trade_desk",
    "blacklist_trade_desk",
    "whitelist_dv360",
    "blacklist_dv360",
]
EXPORT_FORMATS: tuple[str, ...] = ExportFormat.__args__  # type: ignore[attr-defined]

CSV = "text/csv; charset=utf-8"
JSON = "application/json"
TEXT = "text/plain; charset=utf-8"
PDF = "application/pdf"


class ExportOptions(BaseModel):
    """Options of an export; each format reads the ones it knows."""

    model_config = ConfigDict(extra="forbid")

    # lists: eligibility (default: the campaign's own); results: a filter
    min_impressions: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    quality_status: Literal["good", "moderate", "poor"] | None = None
    min_score: float | None = Field(
        default=None, ge=0, le=100, allow_inf_nan=False, description="at most max_score"
    )
    max_score: float | None = Field(
        default=None, ge=0, le=100, allow_inf_nan=False, description="at least min_score"
    )
    include_results: bool = True
    include_insights: bool = False
    include_charts: bool = True
    include_details: bool = True
    entries: Literal["web", "apps"] = "web"  # DSP text lists: web domains or app ids
    # which run (default: the campaign's latest completed run)
    run_id: uuid.UUID | None = None

    @model_validator(mode="after")
    def _scores_in_order(self) -> ExportOptions:
        check_score_range(self.min_score, self.max_score)
        return self


def check_score_range(min_score: float | None, max_score: float | None) -> None:
    """min_score <= max_score when both are given (a 422 naming them otherwise: the
    empty file they would give is never what was meant)."""
    if min_score is not None and max_score is not None and min_score > max_score:
        raise InvalidInput(
            f"min_score ({min_score:g}) must not exceed max_score ({max_score:g})",
            field="min_score",
        )


@dataclass
class Rendered:
    """A rendered export: the bytes (or a stream of them), how to name them, and the
    headers that say which run its results come from (``X-Results-Completed-At``,
    ``X-Results-Stale``: a later run is in progress or failed)."""

    filename: str
    content_type: str
    body: bytes | Iterator[bytes]
    headers: dict[str, str] = field(default_factory=dict)

    def read(self) -> bytes:
        return self.body if isinstance(self.body, bytes) else b"".join(self.body)


SessionFactory = Callable[[], AbstractContextManager[Session]]


def _json_bytes(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, indent=2, default=str).encode("utf-8")


def _name(facts: CampaignFacts, kind: str, ext: str, when: datetime) -> str:
    return formats.export_filename(facts.name, kind, ext, when)


def _results_csv(
    stored: StoredRun, facts: CampaignFacts, filters: ResultFilters, now: datetime
) -> Iterator[bytes]:
    """Streams, row batch by row batch from the run's frame (a run's rows never change,
    so nothing of the database is held while the body is sent). A run scored with
    list_confidence adds its bounds, decision and shrunk rates after the classic columns."""
    extra = stored.confidence_columns()
    batches = result_batches(stored, filters, extra=extra)
    yield from csv_writer.results_csv(facts, batches, now, extra_columns=extra)


def _require_domains(facts: CampaignFacts) -> None:
    if facts.analysis_level != "domain":
        raise Conflict(
            "DSP site lists hold domains and app ids; this campaign is scored per "
            f"{facts.analysis_level.replace('_', ' ')}: use the CSV or JSON list instead",
            analysis_level=facts.analysis_level,
        )


def _campaign_json(
    session: Session,
    stored: StoredRun,
    view: ResultsView,
    data: ReportData,
    options: ExportOptions,
) -> Iterator[bytes]:
    facts = data.campaign
    campaign, run = view.campaign, view.run
    head: dict[str, Any] = {
        "campaign": {
            "id": facts.id,
            "name": facts.name,
            "description": facts.description,
            "platform": facts.platform,
            "goal": facts.goal,
            "channel": facts.channel,
            "ctr_sensitivity": facts.ctr_sensitivity,
            "min_impressions": campaign.min_impressions,
            "analysis_level": facts.analysis_level,
            "status": facts.status,
            "created_at": formats.iso_utc(facts.created_at),
            "started_at": formats.iso_utc(run.started_at),
            "completed_at": None
            if facts.completed_at is None
            else formats.iso_utc(facts.completed_at),
            "source_filename": facts.source_filename,
        },
        "config_snapshot": run.snapshot,
        "column_mapping_used": run.column_mapping_used,
        "data_quality_report": run.report,
        "campaign_summary": data.summary,
        "whitelist": formats.list_json(data.whitelist, facts, data.generated_at),
        "blacklist": formats.list_json(data.blacklist, facts, data.generated_at),
        "generated_at": formats.iso_utc(data.generated_at),
    }
    if options.include_insights:
        insights = session.scalars(
            select(AIInsight)
            .where(AIInsight.campaign_id == campaign.id)  # the organization's campaign
            .order_by(AIInsight.created_at)
        )
        head["ai_insights"] = [
            {
                "id": str(i.id),
                "insight_type": i.insight_type,
                "provider": i.provider,
                "content": i.content,
                "created_at": formats.iso_utc(i.created_at),
            }
            for i in insights
        ]
    text = json.dumps(head, ensure_ascii=False, indent=2, default=str)
    if not options.include_results:
        yield text.encode("utf-8")
        return
    yield (text[: text.rindex("}")].rstrip() + ',\n  "scoring_results": [').encode("utf-8")
    separator, pending = "\n    ", []
    for item in formats.results_json_items(result_batches(stored, ResultFilters())):
        pending.append(separator + item)
        separator = ",\n    "
        if len(pending) == 256:
            yield "".join(pending).encode("utf-8")
            pending.clear()
    yield "".join(pending).encode("utf-8")
    yield b"\n  ]\n}"


def render(
    session: Session,
    sessions: SessionFactory,
    org_id: uuid.UUID,
    campaign_id: uuid.UUID,
    fmt: str,
    options: ExportOptions | None = None,
    *,
    now: datetime | None = None,
) -> Rendered:
    """The export ``fmt`` of a run of the owner's campaign (``options.run_id``, default
    its latest completed run). ``sessions`` is kept for callers; a run's rows are read
    from its frame."""
    options = options or ExportOptions()
    now = now or utcnow()
    view = results_view(session, org_id, campaign_id, options.run_id)
    rendered = _render(session, org_id, view, fmt, options, now)
    rendered.headers.update(view.marker.headers())
    return rendered


def _render(
    session: Session,
    org_id: uuid.UUID,
    view: ResultsView,
    fmt: str,
    options: ExportOptions,
    now: datetime,
) -> Rendered:
    facts = campaign_facts(view)
    campaign_id = view.campaign.id
    if fmt == "results_csv":
        filters = ResultFilters(
            quality_status=options.quality_status,
            min_score=options.min_score,
            max_score=options.max_score,
            min_impressions=options.min_impressions,
        )
        return Rendered(
            _name(facts, "results", "csv", now),
            CSV,
            _results_csv(stored_run(session, view), facts, filters, now),
        )
    kind, _, tail = fmt.partition("_")
    if tail in ("txt", "trade_desk", "dv360"):
        _require_domains(facts)
    data = report_data(
        session,
        org_id,
        campaign_id,
        min_impressions=options.min_impressions,
        with_insights=fmt == "pdf",
        now=now,
        view=view,
    )
    if fmt == "pdf":
        from caliber.reports.pdf.document import render_campaign_pdf  # noqa: PLC0415 - ReportLab is heavy

        body = render_campaign_pdf(
            data,
            include_charts=options.include_charts,
            include_details=options.include_details,
            # the lists at the report's floor, as its whitelist and blacklist sections
            impact=impact_of(session, view, options.min_impressions),
        )
        return Rendered(_name(facts, "report", "pdf", now), PDF, body)
    if fmt == "summary_csv":
        body = csv_writer.csv_bytes(formats.SUMMARY_COLUMNS, [formats.summary_row(data, now)])
        return Rendered(_name(facts, "summary", "csv", now), CSV, body)
    if fmt == "optimization_lists_csv":
        rows = formats.optimization_rows(data.whitelist, data.blacklist, facts, now)
        body = csv_writer.csv_bytes(formats.OPTIMIZATION_COLUMNS, rows)
        return Rendered(_name(facts, "optimization-lists", "csv", now), CSV, body)
    if fmt == "campaign_json":
        return Rendered(
            _name(facts, "campaign", "json", now),
            JSON,
            _campaign_json(session, stored_run(session, view), view, data, options),
        )
    snapshot = data.whitelist if kind == "whitelist" else data.blacklist
    if tail == "csv":
        body = csv_writer.csv_bytes(formats.LIST_COLUMNS, formats.list_rows(snapshot, facts, now))
        return Rendered(_name(facts, kind, "csv", now), CSV, body)
    if tail == "json":
        body = _json_bytes(formats.list_json(snapshot, facts, now))
        return Rendered(_name(facts, kind, "json", now), JSON, body)
    web, apps = dsp.split_entries(snapshot.domains)
    if tail == "txt":
        chosen = web if options.entries == "web" else apps
        name = _name(facts, f"{kind}-{options.entries}", "txt", now)
        return Rendered(name, TEXT, dsp.plain_list(chosen))
    if tail == "trade_desk":
        body = _json_bytes(
            dsp.trade_desk_bid_list(kind, web, apps, name=f"Caliber {kind}: {facts.name}"[:255])
        )
        return Rendered(_name(facts, f"{kind}-trade-desk", "json", now), JSON, body)
    if tail == "dv360":
        body = _json_bytes(dsp.dv360_sites(web, apps))
        return Rendered(_name(facts, f"{kind}-dv360", "json", now), JSON, body)
    msg = f"unknown export format {fmt!r}"
    raise ValueError(msg)
