"""What each export of a scored campaign holds: column sets, CSV rows, the list JSON and
the campaign JSON's result items, and file names. Pure functions of
:mod:`caliber.reports.data`. The CSV files are written by :mod:`caliber.reports.csv_writer`
(every cell through :mod:`caliber.reports.cells`); the DSP-ready lists live in
:mod:`caliber.reports.dsp`.
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from caliber.reports.data import CampaignFacts, ListSnapshot, ReportData
from caliber.scoring.frames import EXPORT_FIELDS

RESULT_COLUMNS: tuple[str, ...] = (
    "campaign_name",
    "campaign_type",
    "goal",
    "channel",
    "domain",
    "score",
    "quality_status",
    "percentile_rank",
    "impressions",
    "spend",
    "cpm",
    "ctr",
    "conversions",
    "conversion_rate",
    "raw_metrics",
    "normalized_metrics",
    "score_breakdown",
    "quality_flags",
    "export_date",
)
"""One row per scored domain/app/vendor; ``campaign_type`` is the platform."""

LIST_COLUMNS: tuple[str, ...] = (
    "domain",
    "list_type",
    "score",
    "impressions",
    "campaign_name",
    "campaign_type",
    "goal",
    "channel",
    "min_impressions",
    "average_score",
    "total_impressions",
    "export_date",
)
"""A whitelist or blacklist CSV, and (both lists) the optimization-lists CSV."""

OPTIMIZATION_COLUMNS = LIST_COLUMNS

SUMMARY_COLUMNS: tuple[str, ...] = (
    "campaign_id",
    "campaign_name",
    "campaign_type",
    "goal",
    "channel",
    "status",
    "analysis_level",
    "campaign_level_score",
    "total_impressions",
    "total_spend",
    "average_cpm",
    "row_count",
    "score_mean",
    "score_median",
    "score_std",
    "score_min",
    "score_max",
    "good_count",
    "moderate_count",
    "poor_count",
    "whitelist_count",
    "blacklist_count",
    "completed_at",
    "export_date",
)
"""The one-row campaign summary CSV."""


STORED_RESULT_FIELDS: tuple[str, ...] = EXPORT_FIELDS
"""The stored columns of a result row that
:func:`~caliber.reports.csv_writer.results_csv` and
:func:`results_json_items` read, in this order (the JSON columns as loaded values)."""


_plain_json = json.JSONEncoder(ensure_ascii=False).encode


def results_json_items(batches: Iterable[Iterable[Sequence[Any]]]) -> Iterator[str]:
    """Each stored row (tuples of :data:`STORED_RESULT_FIELDS`) as the JSON object of a
    ``scoring_results`` entry of the campaign JSON (``json.dumps(row,
    ensure_ascii=False)``: the JSON columns as stored, in their stored key order)."""
    encode = _plain_json
    for batch in batches:
        for (
            domain,
            score,
            status,
            percentile,
            impressions,
            spend,
            cpm,
            ctr,
            conversions,
            conversion_rate,
            metrics,
            breakdown,
            flags,
        ) in batch:
            stored = metrics or {}
            yield encode(
                {
                    "domain": domain,
                    "score": score,
                    "quality_status": status,
                    "percentile_rank": percentile,
                    "impressions": impressions,
                    "spend": spend,
                    "cpm": cpm,
                    "ctr": ctr,
                    "conversions": conversions,
                    "conversion_rate": conversion_rate,
                    "raw_metrics": stored.get("values", {}),
                    "normalized_metrics": stored.get("normalized", {}),
                    "score_breakdown": breakdown or {},
                    "quality_flags": list(flags or []),
                }
            )


# --------------------------------------------------------------------------- rows


def iso_utc(when: datetime) -> str:
    """ISO 8601 in UTC with a ``Z``, to the second; a naive datetime is taken as UTC."""
    moment = when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def _number(value: Any) -> float | int | None:
    """A JSON-safe number: None for missing or non-finite values."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def result_row(
    campaign: CampaignFacts, values: Mapping[str, object], generated_at: datetime
) -> list[object]:
    """A :data:`RESULT_COLUMNS` row from one stored result (a mapping keyed by column
    name: ``domain``, ``score``, ..., ``quality_flags``; missing keys give empty cells)."""
    head: list[object] = [campaign.name, campaign.platform, campaign.goal, campaign.channel]
    body = [values.get(name) for name in RESULT_COLUMNS[4:-1]]
    return [*head, *body, iso_utc(generated_at)]


def list_rows(
    snapshot: ListSnapshot, campaign: CampaignFacts, generated_at: datetime
) -> list[list[object]]:
    """:data:`LIST_COLUMNS` rows, one per list entry in list order."""
    exported = iso_utc(generated_at)
    min_impressions = snapshot.criteria.get("min_impressions")
    return [
        [
            entry.domain,
            snapshot.list_type,
            entry.score,
            entry.impressions,
            campaign.name,
            campaign.platform,
            campaign.goal,
            campaign.channel,
            min_impressions,
            snapshot.average_score,
            snapshot.total_impressions,
            exported,
        ]
        for entry in snapshot.entries
    ]


def optimization_rows(
    whitelist: ListSnapshot,
    blacklist: ListSnapshot,
    campaign: CampaignFacts,
    generated_at: datetime,
) -> list[list[object]]:
    """Both lists in one table (:data:`OPTIMIZATION_COLUMNS`): the whitelist first, each
    row naming its list in ``list_type``."""
    return list_rows(whitelist, campaign, generated_at) + list_rows(
        blacklist, campaign, generated_at
    )


def summary_row(data: ReportData, generated_at: datetime) -> list[object]:
    """The :data:`SUMMARY_COLUMNS` row of a campaign (missing summary figures are empty)."""
    campaign = data.campaign
    summary = data.summary
    spread: Mapping[str, Any] = summary.get("score_distribution") or {}
    counts: Mapping[str, Any] = summary.get("status_counts") or {}
    return [
        campaign.id,
        campaign.name,
        campaign.platform,
        campaign.goal,
        campaign.channel,
        campaign.status,
        campaign.analysis_level,
        summary.get("campaign_level_score"),
        summary.get("total_impressions"),
        summary.get("total_spend"),
        summary.get("average_cpm"),
        summary.get("row_count", data.total_rows),
        spread.get("mean"),
        spread.get("median"),
        spread.get("std"),
        spread.get("min"),
        spread.get("max"),
        counts.get("good", 0),
        counts.get("moderate", 0),
        counts.get("poor", 0),
        len(data.whitelist.entries),
        len(data.blacklist.entries),
        None if campaign.completed_at is None else iso_utc(campaign.completed_at),
        iso_utc(generated_at),
    ]


# --------------------------------------------------------------------------- JSON


def list_json(
    snapshot: ListSnapshot, campaign: CampaignFacts, generated_at: datetime
) -> dict[str, Any]:
    """A whitelist/blacklist as a JSON-ready dict (non-finite numbers become null)."""
    return {
        "list_type": snapshot.list_type,
        "campaign": {
            "id": campaign.id,
            "name": campaign.name,
            "platform": campaign.platform,
            "goal": campaign.goal,
            "channel": campaign.channel,
            "analysis_level": campaign.analysis_level,
        },
        "domains": snapshot.domains,
        "entries": [
            {
                "domain": entry.domain,
                "score": _number(entry.score),
                "impressions": _number(entry.impressions),
                "percentile_rank": entry.percentile_rank,
                "quality_status": entry.quality_status,
            }
            for entry in snapshot.entries
        ],
        "criteria_used": dict(snapshot.criteria),
        "count": len(snapshot.entries),
        "average_score": _number(snapshot.average_score),
        "total_impressions": _number(snapshot.total_impressions),
        "generated_at": iso_utc(generated_at),
    }


# --------------------------------------------------------------------------- names


def _slug(text: str, limit: int) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    return slug[:limit].strip("-")


def export_filename(campaign_name: str, kind: str, ext: str, when: datetime) -> str:
    """A safe ASCII file name, e.g. ``caliber-spring-sale-whitelist-20261127.csv``: the
    campaign slug (letters, digits, hyphens; at most 60 characters; ``campaign`` when
    nothing is left), the kind, the UTC date and the extension."""
    moment = when if when.tzinfo is None else when.astimezone(UTC)
    slug = _slug(campaign_name, 60) or "campaign"
    kind_slug = _slug(kind, 40) or "export"
    extension = re.sub(r"[^a-z0-9]", "", ext.lower())[:10] or "bin"
    return f"caliber-{slug}-{kind_slug}-{moment:%Y%m%d}.{extension}"
